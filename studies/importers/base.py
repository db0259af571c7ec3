"""The importer contract and the atomic two-pass import driver.

An importer turns one file format into :class:`ImportRow` values — a prompt and, optionally, one
model response to it — and knows nothing about the database. Formats live one per module beside
this file (``xstest``, ``coconot``, ``orbench``, ``csv``, ``jsonl``), the way
``django.contrib.sessions.backends`` keeps one backend per module. Subclass :class:`Importer`
(usually through :class:`CSVImporter` or :class:`JSONLImporter`) and override:

``name``, ``extensions``
    the format's registry name and the file endings it is guessed from;
``options``
    the keyword options ``__init__`` accepts (e.g. OR-Bench's ``orbench_set``);
``records(lines)``
    split decoded lines into :class:`~.readers.Record` values, yielding a
    :class:`~.readers.BadLine` for anything unreadable (the CSV and JSONL bases do this);
``parse(record)``
    build the :class:`ImportRow`, raising :class:`RowError` with a reason for a bad record.

:func:`run_import` drives an importer: a first streaming pass parses and validates every record
and collects *all* bad lines; if there are any it raises :class:`ImportFailed` and writes
nothing. Otherwise a second streaming pass writes in batches inside one transaction. Neither pass
holds more than one batch of rows; only small per-prompt keys are remembered, to catch
contradicting duplicates within the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import transaction

from ..models import FoundationModel, Prompt, Response, Study
from ..progress import Progress
from .readers import BadLine, LineDecoder, Record, csv_records, jsonl_records

ON_DUPLICATE = ("skip", "update")


class RowError(ValueError):
    """A record cannot be imported; the message is the reason shown after ``PATH:LINE:``."""


class ImportFailed(Exception):
    """The file has bad lines; nothing was imported. ``errors`` holds one ``PATH:LINE: reason``
    string per bad line, in line order."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True, slots=True)
class PromptRow:
    """A prompt as a file describes it. ``None`` means "this format does not say": the model's
    default on creation, and left alone by ``--on-duplicate update``."""

    source: str
    source_id: str
    text: str
    category: str
    should_refuse: bool
    prompt_type: str | None = None
    domain: str | None = None
    language: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.source_id)


@dataclass(frozen=True, slots=True)
class ResponseRow:
    model: str
    text: str
    condition: str = ""
    refusal_label: str | None = None
    refusal_style: str | None = None
    labeller: str | None = None
    collection: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    prompt: PromptRow
    response: ResponseRow | None = None


# -- sources --------------------------------------------------------------------------------
class Source:
    """Where the bytes come from: opened once per pass, named in error messages."""

    name: str = "<input>"

    def open(self) -> AbstractContextManager[Iterable[bytes]]:
        raise NotImplementedError


class PathSource(Source):
    def __init__(self, path: str) -> None:
        self.path = self.name = str(path)

    def open(self) -> AbstractContextManager[Iterable[bytes]]:
        return open(self.path, "rb")


class FileSource(Source):
    """An already open binary file (an admin upload); rewound for each pass, never closed."""

    def __init__(self, fileobj: Any, name: str) -> None:
        self.fileobj, self.name = fileobj, name

    def open(self) -> AbstractContextManager[Iterable[bytes]]:
        self.fileobj.seek(0)
        return _NotClosing(self.fileobj)


class _NotClosing(AbstractContextManager):
    def __init__(self, fileobj: Any) -> None:
        self.fileobj = fileobj

    def __enter__(self) -> Any:
        return self.fileobj

    def __exit__(self, *exc_info: object) -> None:
        return None


# -- importers ------------------------------------------------------------------------------
class Importer:
    """Base class of file formats; see the module docstring for the hooks."""

    name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, filename: str = "", **options: Any) -> None:
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"{self.name} importer takes no option {', '.join(sorted(unknown))}")
        self.filename = filename

    def records(self, lines: Iterable[str]) -> Iterator[Record | BadLine]:
        raise NotImplementedError

    def parse(self, record: Record) -> ImportRow:
        raise NotImplementedError


class CSVImporter(Importer):
    """A CSV file with a header row; ``record.data`` maps column names to strings."""

    required_columns: ClassVar[tuple[str, ...]] = ()
    optional_columns: ClassVar[tuple[str, ...]] = ()

    def records(self, lines: Iterable[str]) -> Iterator[Record | BadLine]:
        return csv_records(lines, required=self.required_columns, optional=self.optional_columns)


class JSONLImporter(Importer):
    """JSON Lines; ``record.data`` is the line's object (values may be any JSON type)."""

    required_keys: ClassVar[tuple[str, ...]] = ()
    optional_keys: ClassVar[tuple[str, ...]] = ()

    def records(self, lines: Iterable[str]) -> Iterator[Record | BadLine]:
        return jsonl_records(lines, required=self.required_keys, optional=self.optional_keys)


# -- checks shared by every format -----------------------------------------------------------
_MAX_LENGTHS = {
    "source": 80,
    "source_id": 120,
    "prompt_type": 80,
    "domain": 80,
    "language": 16,
    "model": 120,
    "condition": 80,
    "labeller": 80,
}


# Computed once: the choices' ``.values`` builds a new list on every access.
_CATEGORIES = frozenset(Prompt.Category.values)
_LABELS = frozenset(Response.RefusalLabel.values)
_STYLES = frozenset(Response.RefusalStyle.values)


def text_digest(text: str) -> str:
    """A stable id for a prompt that has none: the same text gives the same id on re-import."""
    _check_text("prompt", text)
    return "sha1-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _check_text(name: str, value: str) -> None:
    # JSON escapes can smuggle in what no database column takes: PostgreSQL refuses NUL in
    # text, and a lone surrogate cannot be encoded at all. Refuse them on the line, in pass one.
    if "\x00" in value:
        raise RowError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{name} contains invalid Unicode (an unpaired surrogate)") from None


def check_row(row: ImportRow) -> None:
    """Database-level rules, checked in the first pass so the second cannot fail on them."""
    prompt, response = row.prompt, row.response
    if not prompt.text.strip():
        raise RowError("empty prompt")
    if prompt.category not in _CATEGORIES:
        raise RowError(f"unknown category {prompt.category!r}")
    values = {
        "source": prompt.source,
        "source_id": prompt.source_id,
        "prompt_type": prompt.prompt_type,
        "domain": prompt.domain,
        "language": prompt.language,
    }
    if response is not None:
        if not response.model.strip():
            raise RowError("empty model name")
        if response.refusal_label and response.refusal_label not in _LABELS:
            raise RowError(f"unknown refusal_label {response.refusal_label!r}")
        if response.refusal_style and response.refusal_style not in _STYLES:
            raise RowError(f"unknown refusal_style {response.refusal_style!r}")
        values |= {"model": response.model, "condition": response.condition}
        values["labeller"] = response.labeller
    for name, value in values.items():
        if value and len(value) > _MAX_LENGTHS[name]:
            raise RowError(f"{name} longer than {_MAX_LENGTHS[name]} characters")
    texts = {"prompt": prompt.text, **values}
    if response is not None:
        texts["response"] = response.text
    for name, value in texts.items():
        if value:
            _check_text(name, value)


class _Duplicates:
    """Remembers, per prompt and per response key, the first line and a digest of the content.

    The same prompt on several lines is normal (XSTest repeats it for each model) as long as
    the lines agree; a response key twice is always an error. Keys and contents are hashed to
    64-bit integers and a prompt's line and content share one integer, so 80,000 prompts cost a
    few megabytes, not the file.
    """

    def __init__(self) -> None:
        self.prompts: dict[int, int] = {}  # key digest -> line << 64 | content digest
        self.responses: dict[int, int] = {}  # key digest -> line

    @staticmethod
    def _digest(*parts: object) -> int:
        data = repr(parts).encode("utf-8")
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")

    def check(self, row: ImportRow) -> None:
        p = row.prompt
        key = self._digest(*p.key)
        content = self._digest(p.text, p.category, p.should_refuse, p.prompt_type, p.domain)
        first = self.prompts.setdefault(key, row.line << 64 | content)
        if first & (2**64 - 1) != content:
            raise RowError(f"prompt {p.source_id!r} differs from the one on line {first >> 64}")
        if row.response is not None:
            rkey = self._digest(*p.key, row.response.model, row.response.condition)
            line = self.responses.setdefault(rkey, row.line)
            if line != row.line:
                raise RowError(
                    f"second response of model {row.response.model!r} to prompt "
                    f"{p.source_id!r} (first on line {line})"
                )


def _rows(importer: Importer, raw: Iterable[bytes]) -> Iterator[ImportRow | BadLine]:
    """Parsed, checked rows and bad lines in file order (undecodable lines at the end)."""
    decoder = LineDecoder(raw)
    for item in importer.records(decoder):
        if isinstance(item, BadLine):
            yield item
            continue
        try:
            row = importer.parse(item)
            check_row(row)
        except RowError as exc:
            yield BadLine(item.line, str(exc), item.end_line)
            continue
        yield row
    yield from decoder.errors


# -- the driver -------------------------------------------------------------------------------
@dataclass
class ImportResult:
    study: Study
    study_created: bool = False
    rows: int = 0
    models_created: int = 0
    prompts_created: int = 0
    prompts_updated: int = 0
    prompts_unchanged: int = 0
    responses_created: int = 0
    responses_updated: int = 0
    responses_unchanged: int = 0
    model_names: set[str] = field(default_factory=set)

    def summary(self) -> str:
        study = f"study '{self.study.slug}'" + (" (new draft)" if self.study_created else "")
        return (
            f"{self.rows} rows into {study}: prompts {self.prompts_created} new, "
            f"{self.prompts_updated} updated, {self.prompts_unchanged} already there; "
            f"responses {self.responses_created} new, {self.responses_updated} updated, "
            f"{self.responses_unchanged} already there; {self.models_created} new models."
        )


def validate(
    importer: Importer, source: Source, *, progress: Progress | None = None
) -> tuple[int, set[str]]:
    """First pass: the number of rows and the model names, or :class:`ImportFailed`."""
    errors: list[BadLine] = []
    duplicates = _Duplicates()
    rows, models = 0, set()
    with source.open() as raw:
        for item in _rows(importer, raw):
            if isinstance(item, BadLine):
                errors.append(item)
                continue
            try:
                duplicates.check(item)
            except RowError as exc:
                errors.append(BadLine(item.line, str(exc)))
                continue
            rows += 1
            if item.response is not None:
                models.add(item.response.model)
            if progress is not None:
                progress.update()
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportFailed([e.format(source.name) for e in errors])
    return rows, models


def run_import(
    importer: Importer,
    source: Source,
    *,
    study_slug: str,
    on_duplicate: str = "skip",
    batch_size: int = 1000,
    progress_factory: Callable[..., Progress] | None = None,
) -> ImportResult:
    """Import ``source`` into the study ``study_slug`` atomically; see the module docstring.

    The study is created as a draft with the default scales when it does not exist (inside the
    same transaction, so a failed import leaves no empty study behind).
    """
    from ..services import study_ensure_default_scales
    from .writer import BatchWriter

    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate must be one of {ON_DUPLICATE}")
    make_progress = progress_factory or (lambda total=None, label="": Progress(total, label=label))
    with make_progress(None, label="checking") as progress:
        total, model_names = validate(importer, source, progress=progress)

    with transaction.atomic(), make_progress(total, label="importing") as progress:
        study, created = Study.objects.get_or_create(
            slug=study_slug, defaults={"title": study_slug, "status": Study.Status.DRAFT}
        )
        if created:
            study_ensure_default_scales(study=study)
        result = ImportResult(study=study, study_created=created, model_names=model_names)
        models, result.models_created = _ensure_models(model_names)
        writer = BatchWriter(
            study=study, models=models, update=on_duplicate == "update", result=result
        )
        batch: list[ImportRow] = []
        with source.open() as raw:
            for item in _rows(importer, raw):
                if isinstance(item, BadLine):
                    # the file changed between the passes: roll back rather than import half
                    raise ImportFailed([item.format(source.name)])
                batch.append(item)
                if len(batch) >= batch_size:
                    writer.write(batch)
                    progress.update(len(batch))
                    batch = []
            if batch:
                writer.write(batch)
                progress.update(len(batch))
        result.rows = total
    return result


def _ensure_models(names: set[str]) -> tuple[dict[str, int], int]:
    """``{name: id}`` for every model the file names, creating the missing ones in bulk."""
    existing = dict(FoundationModel.objects.filter(name__in=names).values_list("name", "pk"))
    missing = sorted(names - set(existing))
    FoundationModel.objects.bulk_create(
        [FoundationModel(name=name) for name in missing], ignore_conflicts=True
    )
    if missing:
        existing = dict(FoundationModel.objects.filter(name__in=names).values_list("name", "pk"))
    return existing, len(missing)
