import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Analyse a study (SLUG) or tidy CSV files (--ratings, needing no database rows): "
        "mixed models, reliability, automated metrics, pairwise ranking, participant flow."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", nargs="?", help="study slug (or use --ratings)")
        parser.add_argument("--ratings", type=Path, help="ratings.csv to analyse instead of a study")
        parser.add_argument("--comparisons", type=Path, help="comparisons.csv (with --ratings)")
        parser.add_argument("--responses", type=Path, help="responses.csv (with --ratings)")
        parser.add_argument("--formula", action="append", dest="formulas", help="lme4 formula; repeatable")
        parser.add_argument("--method", choices=["REML", "ML"], default="REML")
        parser.add_argument("--format", choices=["json", "html"], default="json")
        parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
        parser.add_argument("--include-excluded", action="store_true")
        parser.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the study's)")
        parser.add_argument("--n-boot", type=int, default=1000)

    def handle(self, *args, **opts) -> None:
        from analysis.pipeline import AnalysisInputError
        from analysis.runner import analyze_csv, analyze_study

        if bool(opts["slug"]) == bool(opts["ratings"]):
            raise CommandError("give either a study SLUG or --ratings CSV")
        common = {
            "formulas": opts["formulas"],
            "method": opts["method"],
            "include_excluded": opts["include_excluded"],
            "n_boot": opts["n_boot"],
            "seed": opts["seed"],
        }
        try:
            if opts["slug"]:
                result = analyze_study(opts["slug"], **common)
            else:
                result = analyze_csv(
                    opts["ratings"], comparisons=opts["comparisons"], responses=opts["responses"], **common
                )
        except (AnalysisInputError, FileNotFoundError, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        left = result["data"]["left_out"]
        if any(left.values()):
            sys.stderr.write(
                f"Left out {left['attention_check']} attention-check row(s) and "
                f"{left['excluded_participant']} row(s) of excluded participants"
                + (f" ({result['data'].get('left_out_by_reason')})" if result["data"].get("left_out_by_reason") else "")
                + "; use --include-excluded to keep them.\n"
            )
        if opts["format"] == "json":
            text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        else:
            from analysis.report import render_html

            text = render_html(result)
        if opts["out"]:
            opts["out"].write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {opts['out']}")
        else:
            self.stdout.write(text, ending="")
