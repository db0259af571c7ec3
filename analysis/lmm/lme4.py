"""Run R's lme4 on a CSV for cross-checks and benchmarks (needs ``Rscript`` with lme4).

Only tests and ``benchmarks/fit_lmm.py`` call this; nothing in the web path does. The R side
prints tab-separated lines with 17 significant digits so nothing is lost in transit, and times
only the ``lmer`` call itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["fit_lme4", "fit_lme4_methods", "lme4_available"]

_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(lme4))
d <- read.csv(args[1], stringsAsFactors = TRUE)
f <- as.formula(args[2])
for (g in strsplit(args[4], ",", fixed = TRUE)[[1]]) if (g %in% names(d)) d[[g]] <- factor(d[[g]])
g17 <- function(x) sprintf("%.17g", x)
for (method in strsplit(args[3], ",", fixed = TRUE)[[1]]) {
  out <- function(...) cat(method, ..., sep = "\t", "\n")
  t0 <- proc.time()[["elapsed"]]
  m <- lmer(f, data = d, REML = (method == "REML"))
  secs <- proc.time()[["elapsed"]] - t0
  fe <- fixef(m); se <- sqrt(diag(as.matrix(vcov(m))))
  for (i in seq_along(fe)) out("fixed", names(fe)[i], g17(fe[i]), g17(se[i]))
  vc <- as.data.frame(VarCorr(m))
  for (i in seq_len(nrow(vc))) if (vc$grp[i] != "Residual" && is.na(vc$var2[i]))
    out("random", vc$grp[i], vc$var1[i], g17(vc$vcov[i]))
  out("sigma2", g17(sigma(m)^2))
  out("loglik", g17(as.numeric(logLik(m))))
  out("singular", as.integer(isSingular(m)))
  out("theta", paste(g17(getME(m, "theta")), collapse = ","))
  out("seconds", g17(secs))
  out("version", as.character(packageVersion("lme4")))
}
"""


def lme4_available() -> bool:
    """True when ``Rscript`` is on PATH and can load lme4."""
    rscript = shutil.which("Rscript")
    if not rscript:
        return False
    try:
        done = subprocess.run(
            [rscript, "-e", "suppressPackageStartupMessages(library(lme4))"],
            capture_output=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def fit_lme4(
    csv_path: str | Path, formula: str, *, method: str = "REML", factors: tuple[str, ...] = (),
    timeout: float = 900,
) -> dict[str, Any]:
    """Fit ``formula`` with lme4 on the CSV; ``factors`` are columns R must treat as factors
    (integer-coded groups; names absent from the CSV are ignored).

    Returns ``fixed{term: (estimate, se)}, random{group: variance}`` (intercept variances; a
    slope is keyed ``"group|term"``), ``residual_variance, loglik, singular, theta, seconds``
    (the ``lmer`` call alone) and ``version``. Raises ``RuntimeError`` with R's message on
    failure.
    """
    return fit_lme4_methods(csv_path, formula, methods=(method,), factors=factors,
                            timeout=timeout)[method.upper()]


def fit_lme4_methods(
    csv_path: str | Path, formula: str, *, methods: tuple[str, ...] = ("REML", "ML"),
    factors: tuple[str, ...] = (), timeout: float = 900,
) -> dict[str, dict[str, Any]]:
    """:func:`fit_lme4` for several methods in one R process (R and lme4 load once)."""
    rscript = shutil.which("Rscript")
    if not rscript:
        raise RuntimeError("Rscript is not installed")
    methods = tuple(m.upper() for m in methods)
    done = subprocess.run(
        [rscript, "--vanilla", "-e", _R_SCRIPT, str(csv_path), formula, ",".join(methods),
         ",".join(factors)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"lme4 failed: {done.stderr.strip()[-2000:]}")
    results: dict[str, dict[str, Any]] = {m: {"fixed": {}, "random": {}} for m in methods}
    for line in done.stdout.splitlines():
        method, key, *parts = (p.strip() for p in line.split("\t"))
        out = results[method]
        if key == "fixed":
            out["fixed"][parts[0]] = (float(parts[1]), float(parts[2]))
        elif key == "random":
            name = parts[0] if parts[1] == "(Intercept)" else f"{parts[0]}|{parts[1]}"
            out["random"][name] = float(parts[2])
        elif key == "sigma2":
            out["residual_variance"] = float(parts[0])
        elif key in ("loglik", "seconds"):
            out[key] = float(parts[0])
        elif key == "singular":
            out["singular"] = parts[0] == "1"
        elif key == "theta":
            out["theta"] = [float(v) for v in parts[0].split(",")]
        elif key == "version":
            out["version"] = parts[0]
    return results
