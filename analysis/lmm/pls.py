r"""Crossed random intercepts by lme4's profiled penalised least squares, made fast.

The model (Bates, Mächler, Bolker & Walker 2015, J. Stat. Softw. 67(1), sections 3.2-3.6)::

    y = X beta + Z Lambda_theta u + e,   u ~ N(0, sigma^2 I),   e ~ N(0, sigma^2 I)

with one indicator block Z_g per grouping factor g and Lambda_theta diagonal, theta_g =
sigma_g / sigma repeated over the levels of g. For fixed theta the penalised least-squares
problem ``min ||y - X beta - Z Lambda u||^2 + ||u||^2`` is solved by one Cholesky factor of the
augmented cross-product matrix of ``[Z Lambda, X, y]`` (plus I on the u block): its diagonal
gives log|L_theta|^2 (the u part) and log|R_X|^2 (the X part), and its triangular solve the
conditional modes u and beta, from which the penalised residual sum of squares r^2 is summed
(the last pivot squared equals r^2 but loses digits to cancellation). Then, as lme4 profiles
sigma and beta out,

    ML:    -2 l(theta)  = log|L|^2 + n (1 + log(2 pi r^2 / n))
    REML:  -2 lR(theta) = log|L|^2 + log|R_X|^2 + (n-p) (1 + log(2 pi r^2 / (n-p)))

and only theta (one number per factor, >= 0) is optimised numerically.

Why it is fast: the block of Z'Z for one factor is diagonal (each row has one level), so the
largest factor (factor 1, e.g. 5,000 participants) is eliminated exactly by a Schur complement
with a diagonal inverse: with a_i = theta_1^2 n_i + 1 and w_i = theta_1^2 / a_i,

    C(theta) = D (B'B - G' W G) D + diag(I, 0),   log|L|^2 = sum log a_i + log|C_uu|

where B = [Z_rest, X, y], G = Z_1'B (group sums) and D scales the Z_rest columns by theta.
Only C, of the size of the *other* factors plus p + 1 (2,000 prompts -> 2,006), is factored,
densely with LAPACK. The sparsity pattern of N'WN (N = Z_1'Z_rest) is fixed, so the level pairs
are listed once (PT, one row per level of factor 1) and vec(N'WN) = PT' w is one sparse product
per evaluation, written straight into C; then one dense Cholesky, O(m^3/3), dominates. lme4
factors the whole sparse system with CHOLMOD instead; for crossed designs its fill-in makes
that block dense too, without the cheap exact elimination. y is replaced by its OLS residual
first: r^2 and |R_X| are invariant to that shift (beta is free) and it keeps the numbers small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack, solve_triangular

__all__ = ["CrossedInterceptsPLS", "PLSFit"]

_LOG2PI = math.log(2.0 * math.pi)
# The reduced system is dense: (levels of all factors but the largest)^2 doubles.
MAX_DENSE_LEVELS = 12_000
# Stored level pairs for N'WN (12 bytes each); beyond this a sparse product per evaluation.
MAX_PAIRS = 60_000_000


@dataclass
class PLSFit:
    theta: np.ndarray  # in the caller's factor order
    beta: np.ndarray
    vcov: np.ndarray
    sigma2: float
    n_evals: int


class CrossedInterceptsPLS:
    """Profiled (RE)ML deviance for ``y ~ X + (1|g_1) + ... + (1|g_k)`` as a function of theta.

    ``codes[g]`` are integer level codes 0..q_g-1 of factor g (every level present).
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, codes: list[np.ndarray]):
        n, p = X.shape
        if not codes:
            raise ValueError("no random-effect terms")
        self.n, self.p, self.k = n, p, len(codes)
        q = [int(c.max()) + 1 for c in codes]
        self.q = q
        # Eliminate the factor with most levels: C then has the size of the others.
        self.elim = int(np.argmax(q))
        self.rest = [g for g in range(self.k) if g != self.elim]
        q_rest = [q[g] for g in self.rest]
        self.q_r = q_r = int(sum(q_rest))
        self.m = q_r + p + 1
        if q_r > MAX_DENSE_LEVELS:
            raise ValueError(
                f"the grouping factors other than the largest have {q_r} levels together; "
                f"the dense reduced system supports at most {MAX_DENSE_LEVELS}"
            )
        self.blocks = np.concatenate([[0], np.cumsum(q_rest)]).astype(int)

        self.beta_ols = np.linalg.lstsq(X, y, rcond=None)[0] if p else np.zeros(0)
        resid = y - X @ self.beta_ols if p else y.astype(float)
        Xr = np.column_stack([X, resid]) if p else resid[:, None]

        rows = np.repeat(np.arange(n), len(self.rest))
        cols = (
            np.column_stack([codes[g] + off for g, off in zip(self.rest, self.blocks)]).ravel()
            if self.rest
            else np.zeros(0, dtype=np.int64)
        )
        Zr = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, q_r))
        c1 = codes[self.elim]
        q1 = q[self.elim]
        Z1 = sp.csr_matrix((np.ones(n), (np.arange(n), c1)), shape=(n, q1))

        # theta-free cross-products; only lower triangles are ever read.
        self.ZrZr = (Zr.T @ Zr).toarray() if len(self.rest) > 1 else None
        self.d_r = np.asarray(Zr.sum(axis=0)).ravel()
        self.M0_xr = np.asarray((Zr.T @ Xr).T)  # (p+1) x q_r
        self.M0_xx = Xr.T @ Xr
        self.d1 = np.bincount(c1, minlength=q1).astype(float)
        # kept for the direct penalised residual sum of squares (see _pwrss)
        self.c1, self.resid, self.X = c1, resid, X
        self.rest_cols = cols.reshape(n, len(self.rest)) if self.rest else None
        self.H = np.asarray(Z1.T @ Xr)  # q1 x (p+1): group sums of [X, y] by factor 1
        self.Nt = (Zr.T @ Z1).tocsr()  # q_r x q1 counts
        self._build_pairs((Z1.T @ Zr).tocsr())
        self.n_evals = 0

    def _build_pairs(self, N: sp.csr_matrix) -> None:
        """PT (q1 x m^2) with PT.T @ w = vec of the lower triangle of N' diag(w) N.

        Row i lists the (a >= b) pairs of rest-levels that level i of factor 1 meets, so the
        product scatters every level's contribution straight into the flat m x m array that
        becomes C: no sort, no index map, one pass per evaluation.
        """
        N.sort_indices()
        lens = np.diff(N.indptr).astype(np.int64)
        npairs = lens * (lens + 1) // 2
        total = int(npairs.sum())
        self.PT = None
        if total == 0 or total > MAX_PAIRS:
            # Too many pairs to store: form N'WN by a sparse product at each evaluation.
            self.N = N
            return
        ptr = np.concatenate([[0], np.cumsum(npairs)])
        idx_dtype = np.int32 if self.m * self.m < 2**31 else np.int64
        flat = np.empty(total, dtype=idx_dtype)
        vals = np.empty(total)
        for length in np.unique(lens):
            if length == 0:
                continue
            rows = np.flatnonzero(lens == length)
            s, t = np.tril_indices(length)
            starts = N.indptr[rows][:, None]
            ia, ib = starts + s, starts + t
            pos = ptr[rows][:, None] + np.arange(len(s))
            flat[pos] = N.indices[ia].astype(np.int64) * self.m + N.indices[ib]
            vals[pos] = N.data[ia] * N.data[ib]
        self.PT = sp.csr_matrix((vals, flat, ptr), shape=(N.shape[0], self.m * self.m))

    def _minus_nwn(self, w: np.ndarray) -> np.ndarray:
        """A fresh C-ordered m x m array whose rest-by-rest lower triangle is -N' diag(w) N."""
        m, q_r = self.m, self.q_r
        if self.PT is not None:
            return (self.PT.T @ (-w)).reshape(m, m)
        C = np.zeros((m, m))
        if q_r:
            C[:q_r, :q_r] = -(self.N.T @ sp.diags(w) @ self.N).toarray()
        return C

    def factor(self, theta: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Lower Cholesky factor of C(theta) (C order) and sum(log a_i), or (None, nan)."""
        self.n_evals += 1
        theta = np.asarray(theta, dtype=float)
        t1 = float(theta[self.elim])
        t_rest = theta[self.rest]
        q_r, m, b = self.q_r, self.m, self.blocks
        a = t1 * t1 * self.d1 + 1.0
        w = (t1 * t1) / a
        wH = w[:, None] * self.H
        if q_r == 0:
            C = np.empty((m, m))
        elif len(self.rest) == 1:
            # one rest factor: Z_r'Z_r is diagonal, so C_rr = I + t^2 (D_r - N'WN)
            tt = float(t_rest[0]) ** 2
            C = self._minus_nwn(tt * w) if t1 else np.zeros((m, m))
            C.ravel()[: q_r * m : m + 1] += tt * self.d_r + 1.0
        else:
            C = self._minus_nwn(w) if t1 else np.zeros((m, m))
            C[:q_r, :q_r] += self.ZrZr
            for i, ti in enumerate(t_rest):
                for j in range(i + 1):
                    C[b[i] : b[i + 1], b[j] : b[j + 1]] *= ti * t_rest[j]
            C.ravel()[: q_r * m : m + 1] += 1.0
        if q_r:
            t_r = np.repeat(t_rest, np.diff(b))
            C[q_r:, :q_r] = (self.M0_xr - (self.Nt @ wH).T) * t_r[None, :]
        C[q_r:, q_r:] = self.M0_xx - self.H.T @ wH
        # C is C-ordered holding the lower triangle; its transpose is a Fortran array whose
        # upper triangle LAPACK factors in place: U'U = C  <=>  L = U' sits in C's lower part.
        _, info = lapack.dpotrf(C.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            return None, float("nan")
        return C, float(np.log(a).sum())

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        """-2 log-likelihood (ML) or the REML criterion, profiled over beta and sigma."""
        theta = np.abs(theta)
        if not np.all(np.isfinite(theta)):
            return float("inf")
        L, logdet_a = self.factor(theta)
        if L is None:
            return float("inf")
        diag = np.diagonal(L)
        q_r, p, n = self.q_r, self.p, self.n
        if not np.all(diag > 0):
            return float("inf")
        r2, _ = self._pwrss(L, theta)
        if not r2 > 0:
            return float("inf")
        logdet_l = logdet_a + 2.0 * np.log(diag[:q_r]).sum()
        if reml:
            nu = n - p
            logdet_rx = 2.0 * np.log(diag[q_r : q_r + p]).sum()
            return float(logdet_l + logdet_rx + nu * (1.0 + _LOG2PI + math.log(r2 / nu)))
        return float(logdet_l + n * (1.0 + _LOG2PI + math.log(r2 / n)))

    def _pwrss(self, L: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised residual sum of squares r^2, computed from the solution, not the pivot.

        The last pivot of the factor is r^2 too, but as a difference of large cross-products
        it loses digits when y has a large mean the fixed part does not absorb (no intercept):
        then the deviance turns noisy and finite differences mislead the optimiser. Solving
        for (u, beta) and summing squares costs O(m^2 + n) and is accurate to rounding, since
        r^2 is stationary at the solution. Returns r^2 and z = (u_rest, beta - beta_ols).
        """
        m, q_r = self.m, self.q_r
        # L' z = l for the leading m-1 block, done on the full upper factor U = L' (Fortran,
        # no copy) with a zero appended: the last unknown is then 0 and drops out.
        rhs = np.append(L[m - 1, : m - 1], 0.0)
        z = solve_triangular(L.T, rhs, lower=False, check_finite=False)[: m - 1]
        t1 = float(theta[self.elim])
        e = self.resid - self.X @ z[q_r:] if self.p else self.resid.copy()
        u_sq = 0.0
        if q_r:
            u_r = z[:q_r]
            t_r = np.repeat(np.asarray(theta, dtype=float)[self.rest], np.diff(self.blocks))
            b_r = t_r * u_r  # rest random effects on the response scale
            for j in range(len(self.rest)):
                e -= b_r[self.rest_cols[:, j]]
            u_sq += float(u_r @ u_r)
        if t1:
            # u_1 = theta_1 Z_1'(e) / a_i: the exact minimiser for the eliminated factor
            u1 = t1 * np.bincount(self.c1, e, minlength=len(self.d1)) / (t1 * t1 * self.d1 + 1)
            e -= t1 * u1[self.c1]
            u_sq += float(u1 @ u1)
        return float(e @ e) + u_sq, z

    def estimates(self, theta: np.ndarray, reml: bool) -> PLSFit:
        """beta, vcov(beta) and sigma^2 at theta (lme4: sigma^2 = r^2 / (n - p) for REML)."""
        theta = np.abs(np.asarray(theta, dtype=float))
        L, _ = self.factor(theta)
        if L is None:
            raise np.linalg.LinAlgError("the mixed-model system is not positive definite")
        q_r, p, n = self.q_r, self.p, self.n
        r2, z = self._pwrss(L, theta)
        sigma2 = r2 / (n - p if reml else n)
        if p:
            LX = np.tril(L[q_r : q_r + p, q_r : q_r + p])
            beta = self.beta_ols + z[q_r:]
            LXinv = solve_triangular(LX, np.eye(p), lower=True)
            vcov = sigma2 * (LXinv.T @ LXinv)
        else:
            beta, vcov = np.zeros(0), np.zeros((0, 0))
        return PLSFit(theta, beta, vcov, float(sigma2), self.n_evals)
