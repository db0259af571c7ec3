"""Benchmark fit_lmm against R's lme4: seconds and peak memory on 1k / 20k / 200k simulated
ratings and on InstEval (73k real ratings).

    .venv/bin/python benchmarks/fit_lmm.py [--no-lme4] [--cases 1k,20k,200k,insteval]
                                           [--method REML|ML]

Each of our fits runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its
own: interpreter, the data frame and the fit; "fit alloc" is tracemalloc's peak during a second
fit_lmm call alone (numpy buffers included, BLAS workspace not). lme4's seconds time only the
``lmer`` call inside R (R start-up and CSV reading excluded). On a shared machine the figures
move with the load: the 1-minute load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FORMULA = "helpfulness ~ refused * should_refuse + model_orr + (1|participant) + (1|prompt)"
CASES = {
    # name: (simulator arguments or None for InstEval, formula)
    "1k": ({"n_participants": 50, "n_prompts": 40, "ratings_per_participant": 20}, FORMULA),
    "20k": ({"n_participants": 500, "n_prompts": 400, "ratings_per_participant": 40}, FORMULA),
    "200k": ({"n_participants": 5000, "n_prompts": 2000, "ratings_per_participant": 40},
             FORMULA),
    "insteval": (None, "y ~ 1 + service + (1|s) + (1|d)"),
}
FACTORS = ("participant", "prompt", "model", "s", "d")


def _write_data(name: str, folder: Path) -> Path:
    kwargs, _ = CASES[name]
    if kwargs is None:
        return ROOT / "fixtures" / "reference" / "insteval.csv"
    from analysis.simulate import simulate_ratings

    path = folder / f"sim_{name}.csv"
    simulate_ratings(**kwargs, seed=2024).to_csv(path, index=False)
    return path


def _child(name: str, csv: str, method: str) -> None:
    """Runs in its own process: one timed fit, then one under tracemalloc."""
    import resource
    import tracemalloc

    import pandas as pd

    from analysis.lmm import fit_lmm

    data = pd.read_csv(csv)
    formula = CASES[name][1]
    started = time.perf_counter()
    fit = fit_lmm(data, formula, method=method)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    fit_lmm(data, formula, method=method)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({
        "seconds": seconds,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fit_alloc_mb": peak / 2**20,
        "n_obs": fit["n_obs"],
        "n_groups": fit["n_groups"],
        "evaluations": fit.get("n_evaluations"),
        "converged": fit["converged"],
        "loglik": fit["loglik"],
        "random": fit["random"],
        "residual_variance": fit["residual_variance"],
    }))


def _ours(name: str, csv: Path, method: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, "--csv", str(csv), "--method", method],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _agreement(ours: dict, ref: dict) -> float:
    """Largest relative difference over variances and the log-likelihood."""
    diffs = [abs(ours["loglik"] - ref["loglik"]) / abs(ref["loglik"]),
             abs(ours["residual_variance"] - ref["residual_variance"]) / ref["residual_variance"]]
    for g, v in ref["random"].items():
        diffs.append(abs(ours["random"][g] - v) / max(v, 1e-3 * ref["residual_variance"]))
    return max(diffs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--method", default="REML", choices=["REML", "ML"])
    parser.add_argument("--no-lme4", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--csv")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.csv, args.method)
        return

    from analysis.lmm.lme4 import fit_lme4, lme4_available

    use_lme4 = not args.no_lme4 and lme4_available()
    started = time.perf_counter()
    print(f"fit_lmm benchmark, {args.method}; python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"lme4 {'yes' if use_lme4 else 'not available'}")
    header = (f"{'case':9} {'n_obs':>7} {'levels':>12} {'ours s':>7} {'peak MB':>8} "
              f"{'fit alloc MB':>12} {'lme4 s':>7} {'lme4/ours':>9} {'max rel diff':>12} "
              f"{'load':>5}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            csv = _write_data(name, Path(tmp))
            ours = _ours(name, csv, args.method)
            lme4_s, ratio, diff = "-", "-", "-"
            if use_lme4:
                ref = fit_lme4(csv, CASES[name][1], method=args.method, factors=FACTORS)
                lme4_s = f"{ref['seconds']:.2f}"
                ratio = f"{ref['seconds'] / ours['seconds']:.1f}x"
                diff = f"{_agreement(ours, ref):.1e}"
            levels = "x".join(str(v) for v in ours["n_groups"].values())
            print(f"{name:9} {ours['n_obs']:>7} {levels:>12} {ours['seconds']:>7.2f} "
                  f"{ours['maxrss_mb']:>8.0f} {ours['fit_alloc_mb']:>12.0f} {lme4_s:>7} "
                  f"{ratio:>9} {diff:>12} {os.getloadavg()[0]:>5.2f}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
