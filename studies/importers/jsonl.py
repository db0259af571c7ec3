"""The generic JSON Lines format: one object per line with the keys of :mod:`.generic`."""

from __future__ import annotations

from .base import ImportRow, JSONLImporter
from .generic import OPTIONAL, REQUIRED, parse_generic
from .readers import Record


class JSONLRowsImporter(JSONLImporter):
    name = "jsonl"
    extensions = (".jsonl", ".ndjson")
    required_keys = REQUIRED
    optional_keys = OPTIONAL

    def parse(self, record: Record) -> ImportRow:
        return parse_generic(record, default_source="jsonl")
