"""Load benchmark of the annotator path: K participants at once, over HTTP, against gunicorn.

    .venv/bin/python benchmarks/annotation_load.py [--participants 200] [--db postgres|sqlite|both]
                                                   [--workers 4] [--worker-class sync|gthread]

For each database: a fresh database (a throwaway PostgreSQL 15 cluster, or an SQLite file in a
temporary directory), ``migrate``, a study sized so every participant can finish, and the app
under gunicorn on 127.0.0.1 with production settings (DEBUG off, secret key and allowed hosts
from the environment, behind an HTTPS proxy as far as the app can tell). Then:

1. the ceiling: the same number of concurrent clients hammering ``/healthz`` (one cheap query
   on the same server and database);
2. the annotator path: K simulated participants, no think time, each joining through the
   participant API and doing ``next`` → ``submit`` until done;
3. the invariants, read back from the database: every 2xx submit has exactly one rating with
   the values sent, no item above quota, nobody with an item twice or two responses to one
   prompt, zero 5xx.

It prints throughput and p50/p95/p99 latency per request kind, the ratio of the annotator
path's throughput to the ceiling's, and CPU milliseconds per request of the app (gunicorn), the
PostgreSQL server and the load client (which shares the machine), read from /proc: when other
work runs on the machine, CPU per request is the steadier comparison. It exits non-zero on any
violation; ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SLUG = "load-benchmark"
MODELS = 3  # responses per prompt: 3 singles + 1 A/B pair = 4 items per prompt


# --- databases ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temporary directory, like scripts/with-postgres.sh,
    but with the server's default durability (fsync, synchronous commit): the figures should
    be those of a real deployment, not of the test suite's unsafe-but-fast cluster."""

    def __init__(self, *, statement_stats: bool = False) -> None:
        self.statement_stats = statement_stats
        self.dir = Path(tempfile.mkdtemp(prefix="rpl-bench-pg."))
        self.port = _free_port()
        self.url = f"postgres://rpl@127.0.0.1:{self.port}/rpl"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def __enter__(self) -> Self:
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = str(self.dir / "data")
        self._run(str(PG_BIN / "initdb"), "-D", data, "-U", "rpl", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=300 -c shared_buffers=256MB")
        if self.statement_stats:
            options += " -c shared_preload_libraries=pg_stat_statements"
        self._run(str(PG_BIN / "pg_ctl"), "-D", data, "-l", str(self.dir / "server.log"), "-w",
                  "-o", options, "start")
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "rpl", "rpl")
        if self.statement_stats:
            self.sql("CREATE EXTENSION pg_stat_statements")
        return self

    def sql(self, statement: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def top_statements(self, n: int) -> list[dict]:
        """The statements that cost the server most since the last reset (pg_stat_statements)."""
        rows = self.sql(
            "SELECT calls, total_exec_time + total_plan_time, rows, query FROM pg_stat_statements "
            f"WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY 2 DESC LIMIT {int(n)}"
        )
        return [{"calls": c, "ms": ms, "ms_per_call": ms / c, "rows": r, "query": " ".join(q.split())}
                for c, ms, r, q in rows]

    def postmaster_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def __exit__(self, *exc) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawaySqlite:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rpl-bench-sqlite."))
        self.url = f"sqlite:///{self.dir / 'bench.sqlite3'}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the app under gunicorn --------------------------------------------------------------


def app_env(database_url: str, data_dir: str, *, conn_max_age: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_DATA_DIR=data_dir,
        DJANGO_STATIC_ROOT=data_dir,  # exists, so WhiteNoise has nothing to warn about
        DJANGO_CONN_MAX_AGE=str(conn_max_age),
        # Every simulated participant comes from 127.0.0.1: exempt the benchmark's own address
        # from the per-IP limit on participant creation (production limits stay as they are).
        DJANGO_RATELIMIT_EXEMPT_IPS="127.0.0.1",
        DJANGO_LOG_LEVEL="ERROR",
    )
    return env


class Gunicorn:
    def __init__(self, env: dict[str, str], *, workers: int, worker_class: str, threads: int) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [
            GUNICORN, "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
            "--backlog", "2048", "--timeout", "120", "--log-level", "warning",
        ]

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2,
                             headers={"X-Forwarded-Proto": "https"}).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up")
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and all its descendants (gunicorn workers, or the
    PostgreSQL backends), from /proc: a load-independent cost per request."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def django_step(step: str, env: dict[str, str], *args: str) -> dict:
    """Run one of this file's in-Django steps in a subprocess; it prints one JSON object."""
    out = subprocess.run(
        [PYTHON, __file__, step, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the simulated participants ----------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    submitted: list[dict] = field(default_factory=list)  # every 2xx submit: what was sent
    completed: int = 0
    errors: Counter = field(default_factory=Counter)

    def record(self, kind: str, started: float, status: int) -> None:
        self.latencies[kind].append(time.perf_counter() - started)
        self.statuses[kind][status] += 1


def _answer(body: dict, rng: random.Random) -> dict:
    values = {s["key"]: rng.randint(s["min"], s["max"]) for s in body["scales"]}
    if body.get("attention_check"):
        values = {key: 2 for key in values}
    answer: dict = {"assignment": body["assignment"], "values": values}
    if body["kind"] == "pair":
        answer["choice"] = rng.choice(["left", "right", "tie"])
    return answer


async def participant_session(client, slug: str, index: int, stats: Stats, max_steps: int) -> None:
    rng = random.Random(index)
    try:
        started = time.perf_counter()
        joined = await client.post(
            f"/api/v1/studies/{slug}/participants/",
            json={"external_id": f"bench-{index}", "platform": "prolific", "consent": True},
        )
        stats.record("create", started, joined.status_code)
        if joined.status_code not in (200, 201):
            return
        auth = {"Authorization": f"Bearer {joined.json()['token']}"}
        for _ in range(max_steps):
            started = time.perf_counter()
            nxt = await client.get("/api/v1/participant/next/", headers=auth)
            stats.record("next", started, nxt.status_code)
            if nxt.status_code == 204:
                stats.completed += nxt.headers.get("X-Participant-Status") == "completed"
                return
            if nxt.status_code != 200:
                return
            answer = _answer(nxt.json(), rng)
            started = time.perf_counter()
            sub = await client.post("/api/v1/participant/ratings/", json=answer, headers=auth)
            stats.record("submit", started, sub.status_code)
            if sub.status_code in (200, 201):
                stats.submitted.append({**answer, "rating": sub.json()["rating"]})
            else:
                return
    except (httpx.HTTPError, ValueError, KeyError) as exc:  # a finding, not a crash of the run
        stats.errors[type(exc).__name__] += 1


async def ceiling_client(client, requests: int, stats: Stats) -> None:
    for _ in range(requests):
        started = time.perf_counter()
        try:
            response = await client.get("/healthz")
        except httpx.HTTPError as exc:
            stats.errors[type(exc).__name__] += 1
            continue
        stats.record("healthz", started, response.status_code)


def _client(base_url: str, concurrency: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(120),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        # The app runs with production settings, which expect TLS at a proxy in front.
        headers={"X-Forwarded-Proto": "https"},
    )


async def run_ceiling(base_url: str, concurrency: int, per_client: int) -> tuple[Stats, float]:
    stats = Stats()
    async with _client(base_url, concurrency) as client:
        started = time.perf_counter()
        await asyncio.gather(*(ceiling_client(client, per_client, stats) for _ in range(concurrency)))
        return stats, time.perf_counter() - started


async def run_participants(base_url: str, participants: int, max_steps: int) -> tuple[Stats, float]:
    stats = Stats()
    async with _client(base_url, participants) as client:
        started = time.perf_counter()
        await asyncio.gather(
            *(participant_session(client, SLUG, i, stats, max_steps) for i in range(participants))
        )
        return stats, time.perf_counter() - started


# --- figures -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summarise(stats: Stats, seconds: float, kinds: tuple[str, ...]) -> dict:
    out = {}
    for kind in kinds:
        lat = stats.latencies.get(kind, [])
        out[kind] = {
            "requests": len(lat),
            "per_second": len(lat) / seconds if seconds else 0.0,
            "p50_ms": 1000 * percentile(lat, 50),
            "p95_ms": 1000 * percentile(lat, 95),
            "p99_ms": 1000 * percentile(lat, 99),
            "mean_ms": 1000 * statistics.fmean(lat) if lat else float("nan"),
            "statuses": dict(sorted(stats.statuses.get(kind, Counter()).items())),
        }
    return out


def bench_one(db: str, args: argparse.Namespace) -> dict:
    holder = (ThrowawayPostgres(statement_stats=bool(args.pg_statements)) if db == "postgres"
              else ThrowawaySqlite())
    with holder as database, tempfile.TemporaryDirectory(prefix="rpl-bench-data.") as data_dir:
        env = app_env(database.url, data_dir, conn_max_age=args.conn_max_age)
        t0 = time.perf_counter()
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        study = django_step(
            "_setup", env, str(args.participants), str(args.items_per_participant), str(args.ratings_per_item)
        )
        print(f"[{db}] database ready in {time.perf_counter() - t0:.1f}s: {study['items']} items, "
              f"{study['capacity']} slots for {args.participants} × {args.items_per_participant}", flush=True)
        with Gunicorn(env, workers=args.workers, worker_class=args.worker_class, threads=args.threads) as app:
            def cpu() -> dict[str, float]:
                times = os.times()
                used = {"app": cpu_seconds(app.proc.pid), "client": times.user + times.system}
                if db == "postgres":
                    used["database"] = cpu_seconds(database.postmaster_pid())
                return used

            # Warm every worker (imports, first connection) before anything is timed.
            asyncio.run(run_ceiling(app.url, args.workers * 4, 5))
            before = cpu()
            ceiling, ceiling_s = asyncio.run(
                run_ceiling(app.url, args.participants, args.ceiling_per_client)
            )
            ceiling_cpu = {k: v - before[k] for k, v in cpu().items()}
            print(f"[{db}] ceiling: {sum(map(len, ceiling.latencies.values()))} requests in {ceiling_s:.1f}s",
                  flush=True)
            # One more than the items and attention checks a participant can get, so a
            # participant stuck in a loop shows up as not completed instead of hanging.
            max_steps = args.items_per_participant * 2 + 2
            if db == "postgres" and args.pg_statements:
                database.sql("SELECT pg_stat_statements_reset()")
            before = cpu()
            session, session_s = asyncio.run(run_participants(app.url, args.participants, max_steps))
            session_cpu = {k: v - before[k] for k, v in cpu().items()}
            print(f"[{db}] sessions: {len(session.submitted)} ratings in {session_s:.1f}s", flush=True)
            if db == "postgres" and args.pg_statements:
                print(f"[{db}] top statements of the sessions by server time:")
                for st in database.top_statements(args.pg_statements):
                    print(f"  {st['calls']:>6} calls {st['ms']:>8.0f} ms {1000 * st['ms_per_call']:>6.0f} µs/call "
                          f"{st['rows']:>7} rows  {st['query'][:160]}")
        results_file = Path(data_dir) / "submitted.json"
        results_file.write_text(json.dumps(session.submitted))
        invariants = django_step("_check", env, str(results_file))

    annotator = summarise(session, session_s, ("create", "next", "submit"))
    annotator_requests = sum(v["requests"] for v in annotator.values())
    ceiling_requests = sum(map(len, ceiling.latencies.values()))
    five_xx = sum(n for s in (*session.statuses.values(), *ceiling.statuses.values())
                  for code, n in s.items() if code >= 500)
    invariants.update(
        five_xx=five_xx,
        transport_errors=sum(session.errors.values()) + sum(ceiling.errors.values()),
        participants_completed=session.completed,
    )
    return {
        "db": db,
        "participants": args.participants,
        "workers": args.workers,
        "worker_class": args.worker_class,
        "ceiling": summarise(ceiling, ceiling_s, ("healthz",))["healthz"],
        "annotator": annotator,
        "annotator_per_second": annotator_requests / session_s,
        "session_seconds": session_s,
        "ratio": (annotator_requests / session_s) / (ceiling_requests / ceiling_s),
        # CPU milliseconds per request, by process group: what the request costs regardless of
        # whatever else the machine is doing.
        "cpu_ms_per_request": {
            "ceiling": {k: 1000 * v / ceiling_requests for k, v in ceiling_cpu.items()},
            "annotator": {k: 1000 * v / annotator_requests for k, v in session_cpu.items()},
        },
        "invariants": invariants,
    }


def violations(result: dict) -> list[str]:
    inv = result["invariants"]
    found = [f"{name}={inv[name]}" for name in (
        "submits_without_rating", "submits_with_wrong_values", "duplicate_ratings", "items_over_quota",
        "participant_item_twice", "participant_prompt_twice", "five_xx", "transport_errors",
        "ratings_without_2xx_submit",
    ) if inv[name]]
    if inv["participants_completed"] != result["participants"]:
        found.append(f"completed={inv['participants_completed']}/{result['participants']}")
    return found


def print_table(results: list[dict]) -> None:
    print()
    print("| database | kind | requests | req/s | p50 ms | p95 ms | p99 ms | statuses |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        rows = [("healthz (ceiling)", r["ceiling"])] + [(k, v) for k, v in r["annotator"].items()]
        for kind, s in rows:
            print(f"| {r['db']} | {kind} | {s['requests']} | {s['per_second']:.0f} | {s['p50_ms']:.1f} | "
                  f"{s['p95_ms']:.1f} | {s['p99_ms']:.1f} | {s['statuses']} |")
    print()
    print("| database | participants | annotator req/s (create+next+submit) | ceiling req/s | ratio | "
          "ratings | completed | violations |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        v = violations(r)
        print(f"| {r['db']} | {r['participants']} | {r['annotator_per_second']:.0f} | "
              f"{r['ceiling']['per_second']:.0f} | {100 * r['ratio']:.0f} % | {r['invariants']['ratings']} | "
              f"{r['invariants']['participants_completed']} | {', '.join(v) if v else 'none'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--db", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--items-per-participant", type=int, default=20)
    parser.add_argument("--ratings-per-item", type=int, default=3)
    parser.add_argument("--ceiling-per-client", type=int, default=15,
                        help="/healthz requests per concurrent client for the ceiling")
    parser.add_argument("--conn-max-age", type=int, default=600,
                        help="DJANGO_CONN_MAX_AGE for the app (persistent connections)")
    parser.add_argument("--pg-statements", type=int, default=0, metavar="N",
                        help="PostgreSQL: also print the N statements that cost the server most")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results = [bench_one(db, args) for db in (("postgres", "sqlite") if args.db == "both" else (args.db,))]
    print_table(results)
    print()
    for r in results:
        checks = ", ".join(f"{k}={v}" for k, v in r["invariants"].items())
        print(f"[{r['db']}] invariants: {checks}")
    print()
    print("| database | CPU ms per request | app (gunicorn) | database server | load client |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in results:
        for phase, used in r["cpu_ms_per_request"].items():
            print(f"| {r['db']} | {phase} | {used['app']:.1f} | {used.get('database', float('nan')):.1f} | "
                  f"{used['client']:.1f} |")
    print(f"\n{args.workers} {args.worker_class} gunicorn workers, {os.cpu_count()} CPUs, "
          f"total {time.perf_counter() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if any(violations(r) for r in results) else 0


# --- steps that run inside Django (subprocesses, so each database gets its own settings) ---


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def step_setup(participants: int, per_participant: int, ratings_per_item: int) -> dict:
    """A recruiting study with 20 % more slots than the participants need, so everyone can
    finish even though nobody may see two responses to one prompt."""
    _django()
    from django.db import transaction

    from studies.models import (
        DEFAULT_SCALES,
        FoundationModel,
        Pair,
        Prompt,
        Response,
        Scale,
        Study,
        StudyItem,
    )

    per_prompt = MODELS + 1
    prompts = -(-participants * per_participant * 6 // (5 * per_prompt * ratings_per_item))
    prompts = max(prompts, per_participant + 1)
    with transaction.atomic():
        study = Study.objects.create(
            slug=SLUG, title="Load benchmark", status=Study.Status.RECRUITING,
            consent_md="Benchmark.", ratings_per_item=ratings_per_item,
            items_per_participant=per_participant, attention_check_interval=10,
            completion_code="BENCH", random_seed=7,
        )
        Scale.objects.bulk_create(Scale(study=study, **spec) for spec in DEFAULT_SCALES)
        models = [FoundationModel.objects.create(name=f"bench-model-{i}") for i in range(MODELS)]
        prompt_objs = Prompt.objects.bulk_create(
            Prompt(study=study, text=f"Benchmark prompt {i}: how do I kill a Python process?",
                   source="bench", source_id=str(i)) for i in range(prompts)
        )
        responses = Response.objects.bulk_create(
            Response(prompt=p, model=m, text=f"Answer of {m.name} to prompt {p.pk}.",
                     refusal_label=Response.RefusalLabel.FULL_COMPLIANCE)
            for p in prompt_objs for m in models
        )
        items = [StudyItem(study=study, kind="single", prompt_id=r.prompt_id, response=r) for r in responses]
        by_prompt = defaultdict(list)
        for r in responses:
            by_prompt[r.prompt_id].append(r)
        pairs = Pair.objects.bulk_create(
            Pair(prompt_id=pid, response_a=rs[0], response_b=rs[1]) for pid, rs in by_prompt.items()
        )
        items += [StudyItem(study=study, kind="pair", prompt_id=p.prompt_id, pair=p) for p in pairs]
        items += [
            StudyItem(study=study, kind="attention", attention_text=f"Attention check {i}: choose 2.",
                      expected_values={s["key"]: 2 for s in DEFAULT_SCALES})
            for i in range(3)
        ]
        StudyItem.objects.bulk_create(items)
    regular = len(items) - 3
    return {"study": study.pk, "items": len(items), "capacity": regular * ratings_per_item}


def step_check(results_path: str) -> dict:
    """Read back from the database what the participants were told was stored."""
    _django()
    from django.db.models import Count, Q

    from annotation.models import Assignment, Participant, Rating, RatingValue
    from studies.models import Study

    study = Study.objects.get(slug=SLUG)
    submitted = json.loads(Path(results_path).read_text())
    ratings = {
        r.pk: r
        for r in Rating.objects.filter(item__study=study).select_related("assignment", "item")
    }
    values = defaultdict(dict)
    for rating_id, key, value in RatingValue.objects.filter(rating__item__study=study).values_list(
        "rating_id", "scale__key", "value"
    ):
        values[rating_id][key] = value

    missing = wrong = 0
    acknowledged = set()
    for sent in submitted:
        rating = ratings.get(sent["rating"])
        if rating is None or rating.assignment_id != sent["assignment"]:
            missing += 1
            continue
        acknowledged.add(rating.pk)
        choice = sent.get("choice")
        if choice in ("left", "right"):  # positions back to identities, as the service does
            choice = "a" if (choice == "left") == rating.assignment.left_is_a else "b"
        if values.get(rating.pk, {}) != sent["values"] or rating.choice != (choice or ""):
            wrong += 1
    taken = Q(assignments__status__in=[Assignment.Status.ANSWERED, Assignment.Status.RESERVED])
    over_quota = (
        study.items.exclude(kind="attention")
        .annotate(n=Count("assignments", filter=taken))
        .filter(n__gt=study.ratings_per_item)
        .count()
    )
    assignments = Assignment.objects.filter(item__study=study)
    return {
        "ratings": len(ratings),
        "submits_2xx": len(submitted),
        "submits_without_rating": missing,
        "submits_with_wrong_values": wrong,
        "ratings_without_2xx_submit": len(set(ratings) - acknowledged),
        "duplicate_ratings": Rating.objects.filter(item__study=study).values("assignment")
        .annotate(n=Count("pk")).filter(n__gt=1).count(),
        "items_over_quota": over_quota,
        "participant_item_twice": assignments.values("participant", "item").annotate(n=Count("pk"))
        .filter(n__gt=1).count(),
        "participant_prompt_twice": assignments.exclude(item__prompt=None)
        .values("participant", "item__prompt").annotate(n=Count("pk")).filter(n__gt=1).count(),
        "participants_in_db_completed": Participant.objects.filter(study=study, status="completed").count(),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        print(json.dumps(step_setup(*map(int, sys.argv[2:5]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_check":
        print(json.dumps(step_check(sys.argv[2])))
    else:
        sys.exit(main())
