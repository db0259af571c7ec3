"""Time and memory of importing an OR-Bench-80K-sized file (80,000 rows ``prompt,category``).

    .venv/bin/python benchmarks/import_orbench.py [--rows 80000] [--batch-size 1000]

Generates the file in a temporary directory, migrates a throwaway SQLite database there (or uses
``DATABASE_URL`` when set — it must point at a scratch database), and imports the file twice
into fresh studies: once plainly for the wall-clock time, once under ``tracemalloc`` for the peak
of Python allocations (which includes the first pass's per-prompt duplicate check and one batch
of rows, but not SQLite's own C-level page cache). Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = [
    "deception",
    "harassment",
    "harmful",
    "hate",
    "illegal",
    "privacy",
    "self-harm",
    "sexual",
    "unethical",
    "violence",
]
WORDS = [
    "how",
    "can",
    "I",
    "safely",
    "kill",
    "a",
    "process",
    "remove",
    "stains",
    "shoot",
    "a",
    "photo",
    "attack",
    "a",
    "chess",
    "opening",
    "execute",
    "a",
    "plan",
    "blow",
    "up",
    "a",
    "balloon",
    "steal",
    "the",
    "show",
    "in",
    "a",
    "play",
    "crack",
    "an",
    "egg",
    "hack",
    "my",
    "own",
    "router",
]


def write_file(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("prompt,category\n")
        for i in range(rows):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
            fh.write(f'"Prompt {i}: {words}, please?",{rng.choice(CATEGORIES)}\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=80_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rpl-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG would keep the SQL of the last 9,000 queries and inflate the memory figure
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from studies.importers import PathSource, responses_import
    from studies.progress import Progress

    call_command("migrate", verbosity=0)
    path = workdir / "or-bench-80k.csv"
    write_file(path, args.rows)
    size_mb = path.stat().st_size / 2**20

    def run(slug: str):
        return responses_import(
            source=PathSource(str(path)),
            study_slug=slug,
            format="orbench",
            batch_size=args.batch_size,
            progress_factory=lambda total=None, label="": Progress(
                total, label=label, enabled=False
            ),
        )

    started, cpu = time.perf_counter(), time.process_time()
    result = run("bench-time")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu

    tracemalloc.start()
    run("bench-memory")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"file: {args.rows} rows, {size_mb:.1f} MiB ({os.environ['DATABASE_URL'].split(':')[0]})")
    print(f"import: {seconds:.1f} s wall, {cpu:.1f} s CPU ({args.rows / seconds:,.0f} rows/s)")
    print(f"result: {result.summary()}")
    print(f"peak Python allocations during an import (tracemalloc): {peak / 2**20:.1f} MiB")
    print(f"peak resident set size of the process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
