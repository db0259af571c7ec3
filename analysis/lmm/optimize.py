"""Optimising the profiled deviance over theta >= 0, and checking the optimum honestly.

lme4 minimises with bounded BOBYQA from theta = 1. We use L-BFGS-B with forward-difference
gradients on x = log1p(theta) (see ``optimize_theta``), about 25-45 deviance evaluations for
two factors, each one dense Cholesky. It starts from a cheap method-of-moments guess (fewer
evaluations on large data) and, on small problems, from theta = 1 as well, keeping the better
optimum. Two traps are handled explicitly: the deviance is even in every theta_g, so theta_g = 0
is always a stationary point where a gradient method can stop although the minimum is inside
(``_escape_boundary`` probes and restarts), and near the optimum finite differences are noise
(``_lbfgsb`` stops on a stall). Then, as lme4's ``checkConv`` does, a central-difference
gradient and Hessian at the optimum (step 1e-4) give the convergence check (max of
min(|gradient|, |Hessian-scaled gradient|) < 0.002, Hessian positive semi-definite), and the
same derivatives make one Newton polishing step, kept only if it lowers the deviance. Central
differences stay valid at theta_g = 0 by the same evenness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import OptimizeResult, minimize

__all__ = ["OptResult", "moment_start", "optimize_theta"]

GRAD_TOL = 0.002  # lme4's check.conv.grad tolerance
SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on theta
_STEP = 1e-4  # lme4's deriv12 delta
# interior theta values tried from a boundary stationary point: dips can be narrow
# theta <= 1e5 (a group variance 1e10 times the residual one). Far beyond that the fixed
# effects a factor absorbs (the intercept) become numerically unidentified: their Schur
# complement ~ levels / theta^2 sinks below rounding and the factorisation fails, which would
# stop the line search. A fit that hits this bound fails the gradient check (honestly).
_X_MAX = float(np.log1p(1e5))
_PROBES = (1.0, 0.4, 0.16, 0.064, 0.026, 0.01, 0.004)


@dataclass
class OptResult:
    theta: np.ndarray
    fun: float
    converged: bool
    max_grad: float
    messages: list[str] = field(default_factory=list)


def moment_start(y: np.ndarray, X: np.ndarray, codes: list[np.ndarray]) -> np.ndarray:
    """Crude theta guess: between-level variance of OLS residual means, one factor at a time."""
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else y - y.mean()
    total = float(resid.var()) or 1.0
    s2 = []
    for c in codes:
        n_g = np.bincount(c).astype(float)
        means = np.bincount(c, resid) / n_g
        s2.append(max(means.var() - total / n_g.mean(), 0.01 * total))
    e2 = max(total - sum(s2), 0.1 * total)
    return np.sqrt(np.array(s2) / e2)


def _derivatives(f: Callable[[np.ndarray], float], x: np.ndarray, f0: float):
    """Central-difference gradient and Hessian (lme4's deriv12 scheme, absolute step)."""
    k = len(x)
    h = _STEP
    g = np.zeros(k)
    H = np.zeros((k, k))
    fp, fm = np.zeros(k), np.zeros(k)
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        fp[i], fm[i] = f(x + e), f(x - e)
        g[i] = (fp[i] - fm[i]) / (2 * h)
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h**2
    for i in range(k):
        for j in range(i):
            e = np.zeros(k)
            e[i] = e[j] = h
            fpp, fmm = f(x + e), f(x - e)
            H[i, j] = H[j, i] = (fpp + fmm - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0) / (2 * h**2)
    return g, H


class _Stalled(Exception):
    pass


def _lbfgsb(f, x0: np.ndarray) -> OptimizeResult:
    """L-BFGS-B on [0, _X_MAX]^k that also stops when the deviance has stalled.

    At a converged point a forward-difference gradient is rounding noise; L-BFGS-B then
    spends up to 3 x maxls evaluations per failed line search before its own tests fire.
    The wrapper stops it once 4 (k + 1) evaluations within 1e-9 (relative) of the best value
    have not lowered it by more than 1e-12, and returns the best point seen (the Newton polish
    and the derivative check follow). Clearly worse trial points (long steps) do not count.
    """
    k = len(x0)
    best = {"x": np.minimum(np.asarray(x0, dtype=float), _X_MAX), "f": np.inf, "idle": 0}

    def wrapped(x: np.ndarray) -> float:
        fx = f(x)
        scale = 1.0 + abs(best["f"]) if np.isfinite(best["f"]) else np.inf
        if fx < best["f"] - 1e-12 * scale:
            best["idle"] = 0
        elif fx <= best["f"] + 1e-9 * scale:  # probing the best point at rounding level
            best["idle"] += 1
        if fx < best["f"]:
            best["x"], best["f"] = np.array(x, dtype=float), fx
        if best["idle"] >= 4 * (k + 1):
            raise _Stalled
        return fx

    try:
        return minimize(
            wrapped, best["x"], method="L-BFGS-B", jac="2-point",
            bounds=[(0.0, _X_MAX)] * k,
            options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 500, "maxls": 10},
        )
    except _Stalled:
        return OptimizeResult(x=best["x"], fun=best["f"], success=True,
                              message="stopped: no decrease above rounding level")


def optimize_theta(
    f: Callable[[np.ndarray], float], starts: list[np.ndarray]
) -> OptResult:
    """Minimise ``f`` over theta >= 0 from each start; polish and check the best optimum.

    The work is done on x = log1p(theta): x ~ theta near the boundary, so theta = 0 stays
    reachable and the singular check unchanged, while a large theta (a group variance
    thousands of times the residual one) is searched on a log scale, where the deviance is
    neither flat nor badly scaled for finite differences.
    """
    fx_of = _on_log1p(f)
    best = None
    for x0 in starts:
        res = _lbfgsb(fx_of, np.log1p(np.maximum(np.asarray(x0, dtype=float), 0.0)))
        if best is None or res.fun < best.fun - 1e-10:
            best = res
    assert best is not None
    best = _escape_boundary(fx_of, best)
    messages: list[str] = []
    x, fx = np.asarray(best.x, dtype=float), float(best.fun)
    # L-BFGS-B stops on a failed line search when no further decrease is representable;
    # that is a success if the derivative check below passes, so only hard failures count.
    opt_ok = bool(best.success) or "ABNORMAL" in str(best.message)
    if not opt_ok:
        messages.append(f"optimiser stopped: {best.message}")

    g, H = _derivatives(fx_of, x, fx)
    g, x, fx = _newton_polish(fx_of, x, fx, g, H)
    max_grad, hess_ok = _check(g, H, messages)
    converged = opt_ok and hess_ok and max_grad < GRAD_TOL
    if max_grad >= GRAD_TOL:
        messages.append(
            f"Model failed to converge with max|grad| = {max_grad:.3g} (tol = {GRAD_TOL})"
        )
    return OptResult(np.expm1(x), fx, converged, max_grad, messages)


def _escape_boundary(f, res, rounds: int = 3):
    """Leave theta_g = 0 when it is a stationary point but not a minimum.

    The deviance is even in theta_g, so its gradient is exactly zero at theta_g = 0 and a
    gradient method that lands there (a first step projected onto the bound) stops. Probe a
    few interior values of each component sitting at the bound and restart from any that is
    lower; a true boundary optimum (a singular fit) survives the probes unchanged.
    """
    for _ in range(rounds):
        x = np.asarray(res.x, dtype=float)
        at_bound = np.flatnonzero(x < SINGULAR_TOL)  # at or next to the bound
        trial, f_trial = None, float(res.fun)
        for i in at_bound:
            for theta in _PROBES:
                cand = x.copy()
                cand[i] = np.log1p(theta)
                fc = f(cand)
                if fc < f_trial - 1e-10 * (1.0 + abs(f_trial)):
                    trial, f_trial = cand, fc
        if trial is None:
            return res
        again = _lbfgsb(f, trial)
        if not again.fun < res.fun:
            return res
        res = again
    return res


def _on_log1p(f: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    # |.|: central differences at the boundary step to x < 0; the deviance is even in theta
    return lambda x: f(np.abs(np.expm1(x)))


def _newton_polish(f, x, fx, g, H):
    """One projected Newton step when it promises a decrease above rounding level.

    The Hessian from the optimum is reused at the new point; only the gradient is recomputed
    there, so the convergence check describes the point actually returned.
    """
    try:
        step = -np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return g, x, fx
    decrease = -0.5 * float(g @ step)
    if not np.all(np.isfinite(step)) or decrease < 1e-12 * (1.0 + abs(fx)):
        return g, x, fx
    if np.linalg.norm(step) > 0.1 * (1 + np.linalg.norm(x)):
        return g, x, fx
    x_new = np.maximum(x + step, 0.0)
    f_new = f(x_new)
    if not f_new < fx:
        return g, x, fx
    return _gradient(f, x_new), x_new, f_new


def _gradient(f, x: np.ndarray) -> np.ndarray:
    g = np.zeros(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = _STEP
        g[i] = (f(x + e) - f(x - e)) / (2 * _STEP)
    return g


def _check(g: np.ndarray, H: np.ndarray, messages: list[str]) -> tuple[float, bool]:
    """lme4's checkConv: gradient scaled by the Hessian's Cholesky factor, Hessian PSD."""
    eig = np.linalg.eigvalsh(H) if H.size else np.zeros(0)
    scale = max(1.0, float(np.abs(eig).max())) if eig.size else 1.0
    hess_ok = bool(np.all(eig > -1e-6 * scale))
    if not hess_ok:
        messages.append(
            f"Model failed to converge: degenerate Hessian with {int((eig <= 0).sum())} "
            "negative eigenvalue(s)"
        )
    try:
        R = np.linalg.cholesky(H).T
        scaled = np.linalg.solve(R, g)
        max_grad = float(np.max(np.minimum(np.abs(scaled), np.abs(g)))) if g.size else 0.0
    except np.linalg.LinAlgError:
        max_grad = float(np.max(np.abs(g))) if g.size else 0.0
    return max_grad, hess_ok
