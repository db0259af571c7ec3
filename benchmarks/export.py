"""Export benchmark: ratings.csv of a study with a million rating values, ours against COPY.

    .venv/bin/python benchmarks/export.py [--ratings 1000000] [--items 500] [--per-participant 250]
                                          [--json PATH]

It runs against a throwaway PostgreSQL 15 cluster: when ``DATABASE_URL`` is not a PostgreSQL URL,
the script runs itself again under ``scripts/with-postgres.sh`` on a free port. Then:

1. ``migrate``, and a study of ``--items`` single-response items (five models) with two 1–7
   scales, rated by enough completed participants (``--per-participant`` items each) to give
   ``--ratings`` rating values (participants × items × 2 scales). The big tables are filled by
   ``INSERT … SELECT generate_series`` inside the server: a million values in seconds.
2. Three exports of the same rows, each in a subprocess of its own so that its peak resident
   memory (``ru_maxrss``) is its own, and each written to nowhere (bytes counted):

   ``ours``  ``analysis.dataset.iter_ratings_csv(study)``: the generator behind the API
   ``api``   the same through the researcher API view (``GET …/ratings.csv``, a
             ``StreamingHttpResponse``), consumed chunk by chunk as a WSGI server would
   ``copy``  PostgreSQL's ``COPY (SELECT … the same joined rows …) TO STDOUT (FORMAT csv)``
             read through psycopg: the floor, without the columns COPY cannot compute
             (model_orr, excluded, exclusion_reason: the pre-registered exclusions)

It prints seconds, rows, megabytes, peak RSS (and the RSS before the export began, i.e. the
imports) for each, and the ratios to COPY. The goal: peak RSS under 300 MB for a million rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLUG = "export-benchmark"
MODELS = 5
GOAL_MB = 300
# "verdicts" is participant_verdicts(study) alone: the part of "ours" that runs before the
# first row is written (the exclusion verdicts every row carries).
KINDS = ("ours", "api", "verdicts", "copy")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


# -- the data ------------------------------------------------------------------------------------
def build_study(*, n_values: int, n_items: int, per_participant: int) -> dict[str, int]:
    """The study, its stimuli and ratings; returns the sizes actually made."""
    from django.db import connection, transaction

    from studies.models import (
        DEFAULT_SCALES,
        FoundationModel,
        Prompt,
        Response,
        Scale,
        Study,
        StudyItem,
    )

    per_participant = min(per_participant, n_items)
    n_ratings = n_values // len(DEFAULT_SCALES)
    n_people = -(-n_ratings // per_participant)
    labels = [label for label, _ in Response.RefusalLabel.choices]
    with transaction.atomic():
        study = Study.objects.create(
            slug=SLUG, title="Export benchmark", status=Study.Status.CLOSED, ratings_per_item=1
        )
        Scale.objects.bulk_create(Scale(study=study, **spec) for spec in DEFAULT_SCALES)
        models = FoundationModel.objects.bulk_create(
            FoundationModel(name=f"bench-model-{m}") for m in range(MODELS)
        )
        prompts = Prompt.objects.bulk_create(
            Prompt(
                study=study,
                text=f"Benchmark prompt {p}: how do I kill a Python process?",
                category=Prompt.Category.HARMFUL if p % 4 == 0 else Prompt.Category.BENIGN,
                should_refuse=p % 4 == 0,
                domain="software",
                source="bench",
                source_id=f"b{p}",
            )
            for p in range(-(-n_items // MODELS))
        )
        responses = Response.objects.bulk_create(
            Response(
                prompt=prompt,
                model=model,
                text="Use kill -9 <pid>.",
                refusal_label=labels[(p + m) % len(labels)],
                labeller="bench",
            )
            for p, prompt in enumerate(prompts)
            for m, model in enumerate(models)
        )[:n_items]
        StudyItem.objects.bulk_create(
            StudyItem(study=study, kind=StudyItem.Kind.SINGLE, prompt_id=r.prompt_id, response=r)
            for r in responses
        )

    # The big tables in the server: participant k rates items k … k+per-1 (mod n_items), so no
    # one rates an item twice; the last participant takes only what is left of n_ratings.
    steps = [
        (
            "participants",
            """
            INSERT INTO annotation_participant (study_id, pseudonym, platform, external_id_hash,
                platform_meta, status, consented_at, created_at, last_seen_at, completed_at,
                attention_failures)
            SELECT %(study)s, 'B' || lpad(k::text, 9, '0'), 'prolific', '', '{}', 'completed',
                now(), now(), now(), now(), 0
            FROM generate_series(0, %(people)s - 1) AS k
            """,
        ),
        (
            "assignments",
            """
            WITH items AS (
                SELECT array_agg(id ORDER BY id) AS ids
                FROM studies_studyitem WHERE study_id = %(study)s
            ), people AS (
                SELECT id, row_number() OVER (ORDER BY id) - 1 AS idx
                FROM annotation_participant WHERE study_id = %(study)s
            )
            INSERT INTO annotation_assignment (participant_id, item_id, "order", status,
                reserved_at, expires_at, answered_at)
            SELECT p.id, items.ids[1 + (p.idx + s.k) %% %(items)s], s.k, 'answered',
                now(), now(), now()
            FROM people p
            CROSS JOIN items
            CROSS JOIN generate_series(0, %(per)s - 1) AS s(k)
            WHERE p.idx * %(per)s + s.k < %(ratings)s
            """,
        ),
        (
            "ratings",
            """
            INSERT INTO annotation_rating (assignment_id, participant_id, item_id, choice,
                seconds, created_at)
            SELECT a.id, a.participant_id, a.item_id, '', 2 + (a.id %% 17), now()
            FROM annotation_assignment a
            JOIN annotation_participant p ON p.id = a.participant_id
            WHERE p.study_id = %(study)s
            """,
        ),
        (
            "rating values",
            """
            INSERT INTO annotation_ratingvalue (rating_id, scale_id, value, scale_min, scale_max)
            SELECT r.id, s.id, 1 + ((r.id * 7 + s.id * 3) %% 7), s.min_value, s.max_value
            FROM annotation_rating r
            JOIN annotation_participant p ON p.id = r.participant_id
            CROSS JOIN studies_scale s
            WHERE p.study_id = %(study)s AND s.study_id = %(study)s
            """,
        ),
    ]
    params = {
        "study": study.pk,
        "people": n_people,
        "per": per_participant,
        "items": len(responses),
        "ratings": n_ratings,
    }
    with connection.cursor() as cursor:
        # The rows are consistent by construction: skip the per-row foreign-key triggers, the
        # usual bulk-load setting (the cluster's user is its superuser).
        cursor.execute("SET session_replication_role = replica")
        for label, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql, params)
            print(
                f"  {label:14} {cursor.rowcount:>10,} rows  {time.perf_counter() - started:6.1f} s"
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE")
        cursor.execute(
            "SELECT count(*) FROM annotation_ratingvalue v JOIN annotation_rating r "
            "ON r.id = v.rating_id JOIN studies_studyitem i ON i.id = r.item_id "
            "WHERE i.study_id = %s",
            [study.pk],
        )
        (values,) = cursor.fetchone()
    return {"values": values, "participants": n_people, "items": len(responses)}


# -- the exports, one per subprocess -----------------------------------------------------------------
# The joined rows of ratings.csv, in its order, as far as SQL alone can give them.
COPY_SQL = """
COPY (
    SELECT st.slug AS study, p.pseudonym AS participant, i.id AS item, i.prompt_id AS prompt,
        pr.category AS prompt_category, pr.should_refuse::int AS should_refuse, pr.domain,
        pr.language, fm.name AS model, i.response_id AS response, re.refusal_label,
        (re.refusal_label <> 'full_compliance')::int AS refused, re.refusal_score,
        re.refusal_style, sc.key AS scale, v.value, round(r.seconds::numeric, 3) AS seconds,
        (i.kind = 'attention')::int AS attention_check, a."order", i.kind AS item_kind
    FROM annotation_ratingvalue v
    JOIN annotation_rating r ON r.id = v.rating_id
    JOIN annotation_assignment a ON a.id = r.assignment_id
    JOIN annotation_participant p ON p.id = r.participant_id
    JOIN studies_studyitem i ON i.id = r.item_id
    JOIN studies_study st ON st.id = i.study_id
    JOIN studies_scale sc ON sc.id = v.scale_id
    LEFT JOIN studies_prompt pr ON pr.id = i.prompt_id
    LEFT JOIN studies_response re ON re.id = i.response_id
    LEFT JOIN studies_foundationmodel fm ON fm.id = re.model_id
    WHERE st.slug = %s
    ORDER BY r.participant_id, a."order", sc."order", sc.id
) TO STDOUT (FORMAT csv, HEADER)
"""


def _child(kind: str) -> dict[str, float]:
    """Run one export here and return its figures (a subprocess of the main run)."""
    _django()
    from django.db import connection

    import analysis.dataset  # noqa: F401  (imports are not the export's memory)
    from studies.models import Study

    study = Study.objects.get(slug=SLUG)
    chunks = None
    if kind == "ours":
        from analysis.dataset import iter_ratings_csv

        chunks = (chunk.encode("utf-8") for chunk in iter_ratings_csv(study))
    elif kind == "api":
        from django.contrib.auth import get_user_model
        from rest_framework.test import APIRequestFactory, force_authenticate

        from studies.apis import RatingsCsvApi

        request = APIRequestFactory().get(f"/api/v1/studies/{SLUG}/ratings.csv")
        force_authenticate(request, user=get_user_model()(username="bench", is_staff=True))
        response = RatingsCsvApi.as_view()(request, slug=SLUG)
        assert response.streaming, "the API must stream ratings.csv"
        chunks = response.streaming_content
    before = _rss_mb()
    started = time.perf_counter()
    size = lines = 0
    if kind == "verdicts":
        from analysis.dataset import participant_verdicts

        lines = 1 + len(participant_verdicts(study))  # one row per participant
    elif kind == "copy":
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor, for its COPY support
            with raw.copy(COPY_SQL, [SLUG]) as copy:
                for data in copy:
                    size += len(data)
                    lines += bytes(data).count(b"\n")
    else:
        for chunk in chunks:
            size += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    return {
        "kind": kind,
        "seconds": seconds,
        "rows": lines - 1,
        "mb": size / 2**20,
        "rss_before_mb": before,
        "peak_rss_mb": _rss_mb(),
    }


def _run_child(kind: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000, help="rating values to export")
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--per-participant", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=1, help="runs per export (best time)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child)))
        return 0
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        # A cluster of our own, on a port nobody else's test run is using.
        env = {**os.environ, "PG_PORT": str(_free_port())}
        script = str(ROOT / "scripts" / "with-postgres.sh")
        return subprocess.call(["bash", script, sys.executable, __file__, *sys.argv[1:]], env=env)

    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"Loading {args.ratings:,} rating values …")
    started = time.perf_counter()
    sizes = build_study(
        n_values=args.ratings, n_items=args.items, per_participant=args.per_participant
    )
    print(
        f"  {sizes['values']:,} values from {sizes['participants']:,} participants × "
        f"{min(args.per_participant, sizes['items'])} items × 2 scales in "
        f"{time.perf_counter() - started:.1f} s"
    )

    results = []
    for kind in KINDS:
        runs = [_run_child(kind) for _ in range(args.repeat)]
        # the fastest run (least disturbed by the rest of the machine), the largest peak
        best = min(runs, key=lambda r: r["seconds"])
        results.append({**best, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)})
    floor = next(r for r in results if r["kind"] == "copy")
    print(
        f"\n{'export':8} {'rows':>10} {'MB':>8} {'seconds':>8} {'× COPY':>7} "
        f"{'peak RSS MB':>12} {'(before)':>9} {'× COPY':>7}"
    )
    for r in results:
        size = "-" if r["kind"] == "verdicts" else f"{r['mb']:.1f}"
        print(
            f"{r['kind']:8} {r['rows']:>10,} {size:>8} {r['seconds']:>8.2f} "
            f"{r['seconds'] / floor['seconds']:>7.1f} {r['peak_rss_mb']:>12.0f} "
            f"{r['rss_before_mb']:>9.0f} {r['peak_rss_mb'] / floor['peak_rss_mb']:>7.1f}"
        )
    print("(verdicts: participant_verdicts alone; its rows are participants)")
    ours = results[0]
    verdict = "meets" if ours["peak_rss_mb"] < GOAL_MB else "MISSES"
    print(f"\nours {verdict} the goal of peak RSS < {GOAL_MB} MB for {ours['rows']:,} rows.")
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "results": results}, indent=2) + "\n")
    exports = [r for r in results if r["kind"] != "verdicts"]
    return 0 if all(r["rows"] == sizes["values"] for r in exports) else 1


if __name__ == "__main__":
    sys.exit(main())
