"""Helpers shared by the importer tests: run the command, count rows, corrupt a CSV copy."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from django.core.management import call_command

from studies.models import FoundationModel, Prompt, Response, Scale, Study

ROOT = Path(__file__).resolve().parents[2]
XSTEST_COMPLETIONS = ROOT / "fixtures" / "xstest" / "xstest_v2_completions_labelled.csv"
XSTEST_PROMPTS = ROOT / "fixtures" / "xstest" / "xstest_v2_prompts.csv"
COCONOT = ROOT / "fixtures" / "coconot" / "coconot_contrast_eval.jsonl"


def import_file(path: Path | str, study: str = "x", **options) -> str:
    out = io.StringIO()
    call_command("import_responses", str(path), study=study, stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Study, Scale, FoundationModel, Prompt, Response)
    }


def csv_records(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and each row's first line number, computed from csv.reader's line_num."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows, starts, previous = [], [], reader.line_num
        for row in reader:
            rows.append(row)
            starts.append(previous + 1)
            previous = reader.line_num
    return header, rows, starts


def corrupt_csv(
    source: Path, target: Path, changes: dict[int, Callable[[list[str]], list[str]]]
) -> dict[int, int]:
    """Copy ``source`` to ``target`` with rows (0-based, after the header) changed; returns
    ``{row index: first line number in target}``."""
    header, rows, _ = csv_records(source)
    for index, change in changes.items():
        rows[index] = change(list(rows[index]))
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    _, _, starts = csv_records(target)
    return {index: starts[index] for index in changes}
