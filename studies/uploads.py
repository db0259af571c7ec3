"""Bulk upload of prompts and responses as a JSON array, through the importers' atomic path.

Element ``i`` of the array is handed to the generic JSON Lines importer as line ``i + 1``, so
the upload gets exactly the file import's checks and guarantees: every element is validated
first, every bad one is reported (here by index rather than by line), and nothing is written
unless all are good. See :mod:`studies.importers.generic` for the keys of an element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError

from .importers import ImportFailed, ImportResult, Source, get_importer, responses_import
from .importers.base import validate
from .models import Study

_FORMAT = "jsonl"
_NAME = "upload"
_ERROR = re.compile(rf"^{_NAME}:(\d+): (.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class BadElement:
    index: int
    reason: str


class UploadFailed(Exception):
    """Some elements cannot be imported; nothing was. ``errors`` lists every bad element once,
    by index."""

    def __init__(self, errors: Sequence[BadElement]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"[{e.index}] {e.reason}" for e in self.errors))


class UploadConflict(Exception):
    """A concurrent write got in the way (e.g. the same prompt uploaded twice at once);
    nothing was imported and the same upload may simply be retried."""


class ElementsSource(Source):
    """The elements of an array as JSON Lines: one line per element, so line = index + 1.

    ``json.dumps`` escapes newlines inside strings, so an element never spans two lines. The
    elements at ``blank`` become blank lines, which the reader skips but still counts.
    """

    name = _NAME

    def __init__(self, elements: Sequence[Any], *, blank: Collection[int] = ()) -> None:
        self.elements = elements
        self.blank = blank

    def open(self) -> AbstractContextManager[Iterator[bytes]]:
        return nullcontext(
            b"\n" if index in self.blank else json.dumps(element).encode("ascii") + b"\n"
            for index, element in enumerate(self.elements)
        )


def _unstorable(value: Any) -> str | None:
    """Why a JSON value holds text no database column can store, or None.

    The importers read files, where these cannot occur (the CSV reader refuses NUL, and bytes
    are decoded as UTF-8); a JSON string can spell both with escapes, and PostgreSQL would
    refuse the row only in the middle of the write.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "text contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text contains a lone surrogate (not valid Unicode)"
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        for part in value:
            if problem := _unstorable(part):
                return problem
    return None


def _bad_elements(errors: Sequence[str]) -> dict[int, list[str]]:
    """``upload:LINE: reason`` strings of :class:`ImportFailed` back to element indexes."""
    found: dict[int, list[str]] = {}
    for error in errors:
        match = _ERROR.match(error)
        if match is None:  # not tied to one element; kept rather than lost
            found.setdefault(-1, []).append(error)
            continue
        found.setdefault(int(match[1]) - 1, []).append(match[2])
    return found


def responses_upload(
    *, study: Study, elements: Sequence[Any], on_duplicate: str = "skip"
) -> ImportResult:
    """Import ``elements`` (objects with the generic importer's keys) into ``study``, all or
    nothing.

    Raises :class:`UploadFailed` naming every bad element, :class:`UploadConflict` when a
    concurrent write collided, ``ValueError`` for a bad ``on_duplicate``.
    """
    problems: dict[int, list[str]] = {}
    for index, element in enumerate(elements):
        if reason := _unstorable(element):
            problems[index] = [reason]
    try:
        if problems:
            # Only the importer's first pass, which writes nothing, over the other elements (it
            # cannot digest unstorable text), so that the answer lists every bad element.
            source = ElementsSource(elements, blank=problems.keys())
            validate(get_importer(_FORMAT, filename=_NAME), source)
        else:
            return responses_import(
                source=ElementsSource(elements),
                study_slug=study.slug,
                format=_FORMAT,
                on_duplicate=on_duplicate,
            )
    except ImportFailed as exc:
        for index, reasons in _bad_elements(exc.errors).items():
            problems.setdefault(index, []).extend(reasons)
    except IntegrityError as exc:
        raise UploadConflict(str(exc)) from exc
    raise UploadFailed(
        [BadElement(index, "; ".join(reasons)) for index, reasons in sorted(problems.items())]
    )
