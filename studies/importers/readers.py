"""Turning a byte stream into numbered records: decoding, CSV and JSON Lines.

Everything here is lazy (generators over the file's lines), so an importer can make two passes
over an 80,000-row file without holding it in memory, and every problem is reported with the
line number a text editor shows, not raised: the driver wants *all* bad lines of a file.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BadLine:
    """A problem found on ``line`` (1-based; a CSV record may run on to ``end_line``)."""

    line: int
    reason: str
    end_line: int | None = None

    def format(self, name: str) -> str:
        span = ""
        if self.end_line and self.end_line > self.line:
            span = f" (record spans lines {self.line}–{self.end_line})"
        return f"{name}:{self.line}: {self.reason}{span}"


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed record: a CSV row or a JSON object, with the lines it came from."""

    line: int
    end_line: int
    data: dict[str, Any]


class LineDecoder:
    """Iterate a binary stream's lines as text, remembering the lines that are not UTF-8.

    Decoding line by line (rather than wrapping the file in ``io.TextIOWrapper``) is what lets a
    bad byte be reported on its own line while the rest of the file is still checked. Lines are
    split on ``\\n`` only, as editors count them; a UTF-8 byte-order mark is dropped.
    """

    def __init__(self, raw: Iterable[bytes]) -> None:
        self.raw = raw
        self.errors: list[BadLine] = []

    def __iter__(self) -> Iterator[str]:
        for number, chunk in enumerate(self.raw, start=1):
            if number == 1 and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.errors.append(BadLine(number, f"not valid UTF-8 (byte {exc.start + 1})"))
                text = chunk.decode("utf-8", errors="replace")
            yield text


def _check_names(
    names: list[str], required: Collection[str], optional: Collection[str], what: str
) -> str | None:
    """Why a header (or a JSON object's keys) is unusable, or None when it is fine."""
    problems = []
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        problems.append(f"duplicate {what} {', '.join(duplicated)}")
    missing = [n for n in required if n not in names]
    if missing:
        problems.append(f"missing {what} {', '.join(missing)}")
    unknown = [n for n in names if n not in required and n not in optional]
    if unknown:
        allowed = ", ".join([*required, *optional])
        problems.append(f"unknown {what} {', '.join(unknown)} (allowed: {allowed})")
    return "; ".join(problems) or None


def csv_records(
    lines: Iterable[str], *, required: Collection[str], optional: Collection[str] = ()
) -> Iterator[Record | BadLine]:
    """Records of a CSV file with a header row; the header is line 1.

    ``csv.reader.line_num`` counts physical lines, so a record's first line is one past the
    previous record's ``line_num`` even when quoted fields hold newlines. Blank lines are
    skipped. A header with missing or unknown columns ends the file with a single error: no row
    can be read safely against it.
    """
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        yield BadLine(1, "empty file: expected a header row")
        return
    except csv.Error as exc:
        yield BadLine(1, f"malformed CSV header: {exc}")
        return
    names = [name.strip() for name in header]
    problem = _check_names(names, required, optional, "columns")
    if problem:
        yield BadLine(1, problem)
        return
    previous = reader.line_num
    while True:
        start = previous + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadLine(start, f"malformed CSV: {exc}", reader.line_num)
            previous = reader.line_num
            continue
        previous = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip() and len(names) > 1):
            continue
        if len(row) != len(names):
            yield BadLine(start, f"expected {len(names)} fields, found {len(row)}", previous)
            continue
        yield Record(start, previous, dict(zip(names, row)))


def jsonl_records(
    lines: Iterable[str], *, required: Collection[str], optional: Collection[str] = ()
) -> Iterator[Record | BadLine]:
    """Records of a JSON Lines file: one JSON object per line, blank lines skipped."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield BadLine(number, f"expected a JSON object, found {type(data).__name__}")
            continue
        problem = _check_names(list(data), required, optional, "keys")
        if problem:
            yield BadLine(number, problem)
            continue
        yield Record(number, number, data)
