"""The generic CSV format: a header row naming the columns of :mod:`.generic`."""

from __future__ import annotations

from .base import CSVImporter, ImportRow
from .generic import OPTIONAL, REQUIRED, parse_generic
from .readers import Record


class CSVRowsImporter(CSVImporter):
    name = "csv"
    extensions = (".csv",)
    required_columns = REQUIRED
    optional_columns = OPTIONAL

    def parse(self, record: Record) -> ImportRow:
        return parse_generic(record, default_source="csv")
