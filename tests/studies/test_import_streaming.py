"""The import driver streams: it never holds the file's rows, only one batch at a time."""

from __future__ import annotations

import contextlib

import pytest

from studies.importers.base import ImportFailed, Source, run_import
from studies.importers.orbench import ORBenchImporter
from studies.importers.writer import BatchWriter
from studies.models import Prompt

pytestmark = pytest.mark.django_db


class GeneratedSource(Source):
    """An OR-Bench-like file produced line by line; counts the lines handed out per pass."""

    name = "or-bench-80k.csv"

    def __init__(self, rows: int, bad_rows: frozenset[int] = frozenset()) -> None:
        self.rows, self.bad_rows = rows, bad_rows
        self.opens = 0
        self.handed_out = 0

    def open(self):
        self.opens += 1
        if self.opens > 2:
            raise AssertionError("the importer read the file more than twice")
        self.handed_out = 0
        return contextlib.nullcontext(self._lines())

    def _lines(self):
        self.handed_out += 1
        yield b"prompt,category\n"
        for i in range(self.rows):
            self.handed_out += 1
            yield (
                b"prompt,extra,field\n" if i in self.bad_rows else f"prompt {i},privacy\n".encode()
            )


class WatchingImporter(ORBenchImporter):
    """Checks, at every record, that the reader is no more than a line ahead of the parser."""

    source: GeneratedSource
    max_lead = 0

    def parse(self, record):
        self.max_lead = max(self.max_lead, self.source.handed_out - record.end_line)
        return super().parse(record)


def test_import_streams_in_both_passes(monkeypatch):
    source = GeneratedSource(5000)
    importer = WatchingImporter(orbench_set="80k")
    importer.source = source
    lines_read_at_write: list[int] = []
    original = BatchWriter.write

    def spy(self, rows):
        lines_read_at_write.append(source.handed_out)
        assert len(rows) <= 500
        return original(self, rows)

    monkeypatch.setattr(BatchWriter, "write", spy)

    result = run_import(importer, source, study_slug="stream", batch_size=500)

    assert result.prompts_created == 5000 == Prompt.objects.count()
    assert source.opens == 2
    assert importer.max_lead <= 1  # never read ahead of the record being parsed
    # the first batch is written after ~500 rows were read, not after the whole file
    assert lines_read_at_write[0] <= 502
    assert len(lines_read_at_write) == 10


def test_import_with_bad_rows_never_opens_a_second_pass():
    source = GeneratedSource(2000, bad_rows=frozenset({10, 1500}))
    with pytest.raises(ImportFailed) as failure:
        run_import(ORBenchImporter(orbench_set="80k"), source, study_slug="stream")
    assert failure.value.errors == [
        "or-bench-80k.csv:12: expected 2 fields, found 3",
        "or-bench-80k.csv:1502: expected 2 fields, found 3",
    ]
    assert source.opens == 1
    assert not Prompt.objects.exists()
