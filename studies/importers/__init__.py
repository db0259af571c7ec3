"""Importing benchmark files into a study: one importer per format, chosen by name.

>>> from studies.importers import PathSource, responses_import
>>> responses_import(source=PathSource("fixtures/xstest/xstest_v2_prompts.csv"), study_slug="x")

Formats (each module's docstring documents its columns and mapping):

``xstest``   XSTest v2 prompts file, or its labelled completions file
``coconot``  CoCoNot JSON Lines (option ``coconot_set``)
``orbench``  OR-Bench CSV ``prompt, category`` (option ``orbench_set``)
``csv``      the generic columns of :mod:`.generic`, as CSV
``jsonl``    the same, as JSON Lines

The ``import_responses`` command and the study admin's upload form both call
:func:`responses_import`; the atomic two-pass driver is :func:`.base.run_import`.
"""

from __future__ import annotations

# Aliased: importing the submodule studies.importers.csv rebinds the name ``csv`` here.
import csv as _csv
import json
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.utils.module_loading import import_string

from ..progress import Progress
from .base import (
    ON_DUPLICATE,
    FileSource,
    Importer,
    ImportFailed,
    ImportResult,
    PathSource,
    Source,
    run_import,
)

IMPORTERS: dict[str, str] = {
    "xstest": "studies.importers.xstest.XSTestImporter",
    "coconot": "studies.importers.coconot.CoCoNotImporter",
    "orbench": "studies.importers.orbench.ORBenchImporter",
    "csv": "studies.importers.csv.CSVRowsImporter",
    "jsonl": "studies.importers.jsonl.JSONLRowsImporter",
}
FORMATS = tuple(IMPORTERS)

__all__ = [
    "FORMATS",
    "IMPORTERS",
    "ON_DUPLICATE",
    "FileSource",
    "ImportFailed",
    "ImportResult",
    "PathSource",
    "Source",
    "get_importer",
    "guess_format",
    "responses_import",
]

_XSTEST_HEADERS = ({"id", "prompt", "type", "label"}, {"model", "id", "prompt", "completion"})
_COCONOT_KEYS = {"id", "category", "subcategory", "prompt"}


def guess_format(source: Source) -> str:
    """The format from the file ending, refined by the header of a .csv or the first object of
    a .jsonl (XSTest, OR-Bench and CoCoNot files are recognisable by their columns)."""
    suffix = PurePath(source.name).suffix.lower()
    with source.open() as raw:
        first = next(iter(raw), b"").decode("utf-8-sig", errors="replace")
    if suffix in (".jsonl", ".ndjson"):
        try:
            keys = set(json.loads(first))
        except (ValueError, TypeError):
            return "jsonl"
        return "coconot" if keys >= _COCONOT_KEYS else "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        header = {name.strip() for name in next(_csv.reader([first]), [])}
        if any(columns <= header for columns in _XSTEST_HEADERS):
            return "xstest"
        if header == {"prompt", "category"}:
            return "orbench"
        return "csv"
    raise ValueError(f"cannot tell the format of {source.name!r}: name one of {FORMATS}")


def get_importer(
    name: str, *, filename: str = "", options: Mapping[str, Any] | None = None
) -> Importer:
    """An importer for format ``name``, given those of ``options`` it takes (None values are
    dropped, so a command can pass every format's options). ``ValueError`` for a bad format or
    a missing choice such as the OR-Bench set."""
    if name not in IMPORTERS:
        raise ValueError(f"unknown format {name!r}; choose one of {FORMATS}")
    cls: type[Importer] = import_string(IMPORTERS[name])
    taken = {k: v for k, v in (options or {}).items() if k in cls.options and v is not None}
    return cls(filename=filename, **taken)


def responses_import(
    *,
    source: Source,
    study_slug: str,
    format: str | None = None,
    on_duplicate: str = "skip",
    options: Mapping[str, Any] | None = None,
    batch_size: int = 1000,
    progress_factory: Callable[..., Progress] | None = None,
) -> ImportResult:
    """Import a file of prompts (and responses) into a study, all or nothing.

    Raises :class:`ImportFailed` listing every bad line as ``NAME:LINE: reason`` (nothing is
    written), ``ValueError`` for an unusable format or option.
    """
    try:
        validate_slug(study_slug)
    except ValidationError as exc:
        raise ValueError(f"invalid study slug {study_slug!r}: {exc.messages[0]}") from exc
    name = format or guess_format(source)
    importer = get_importer(name, filename=source.name, options=options)
    return run_import(
        importer,
        source,
        study_slug=study_slug,
        on_duplicate=on_duplicate,
        batch_size=batch_size,
        progress_factory=progress_factory,
    )
