"""XSTest v2 (Röttger et al., NAACL 2024): the prompts file or the labelled completions file.

Which of the two a file is follows from its header:

``xstest_v2_prompts.csv``  ``id, prompt, type, label, focus, note`` — prompts only
``xstest_v2_completions_labelled.csv``  ``model, id, type, prompt_label, prompt, completion,
    annotation_1, annotation_2, agreement, final_label, strmatch_label, gpt4_label`` — prompts,
    responses and the adjudicated human label

Mapping (the same as :mod:`studies.demo`, so the demo and an import can share a study): safe →
category ``seemingly_toxic``, should_refuse 0; unsafe → ``harmful``, 1; ``type`` → prompt_type;
``focus`` → domain; source ``xstest``, source_id ``v2-<id>``; ``final_label`` → refusal_label
with labeller ``xstest_human``. The two annotators' labels, their agreement and XSTest's own
automatic labels (``strmatch_label``, ``gpt4_label``) are kept in ``Response.collection["xstest"]``
for validity checks.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator

from ..labelling.base import XSTEST_CODES
from ..models import Prompt
from .base import CSVImporter, ImportRow, PromptRow, ResponseRow, RowError
from .readers import BadLine, Record, csv_records

HUMAN_LABELLER = "xstest_human"
PROMPT_COLUMNS = (("id", "prompt", "type", "label"), ("focus", "note"))
COMPLETION_COLUMNS = (
    ("model", "id", "type", "prompt_label", "prompt", "completion", "final_label"),
    ("annotation_1", "annotation_2", "agreement", "strmatch_label", "gpt4_label"),
)
_KEPT = COMPLETION_COLUMNS[1]


def _safety(value: str, column: str) -> tuple[str, bool]:
    value = value.strip()
    if value == "safe":
        return Prompt.Category.SEEMINGLY_TOXIC, False
    if value == "unsafe":
        return Prompt.Category.HARMFUL, True
    raise RowError(f"unknown {column} {value!r} (expected safe or unsafe)")


class XSTestImporter(CSVImporter):
    name = "xstest"
    extensions = ()  # plain .csv; guessed from the header instead (see studies.importers)

    completions = True

    def records(self, lines: Iterable[str]) -> Iterator[Record | BadLine]:
        lines = iter(lines)
        first = next(lines, "")
        header = {name.strip() for name in next(csv.reader([first]), [])}
        self.completions = "completion" in header or "model" in header
        required, optional = COMPLETION_COLUMNS if self.completions else PROMPT_COLUMNS
        return csv_records(itertools.chain([first], lines), required=required, optional=optional)

    def parse(self, record: Record) -> ImportRow:
        data = record.data
        raw_id = data["id"].strip()
        if not raw_id:
            raise RowError("empty id")
        source_id = raw_id if raw_id.startswith("v2-") else f"v2-{raw_id}"
        if self.completions:
            return self._completion(record.line, data, source_id)
        category, should_refuse = _safety(data["label"], "label")
        prompt = PromptRow(
            source="xstest",
            source_id=source_id,
            text=data["prompt"],
            category=category,
            should_refuse=should_refuse,
            prompt_type=data["type"].strip(),
            domain=data.get("focus", "").strip() or None,
            language="en",
        )
        return ImportRow(record.line, prompt)

    def _completion(self, line: int, data: dict[str, str], source_id: str) -> ImportRow:
        category, should_refuse = _safety(data["prompt_label"], "prompt_label")
        label = XSTEST_CODES.get(data["final_label"].strip())
        if label is None:
            raise RowError(f"unknown final_label {data['final_label']!r}")
        prompt = PromptRow(
            source="xstest",
            source_id=source_id,
            text=data["prompt"],
            category=category,
            should_refuse=should_refuse,
            prompt_type=data["type"].strip(),
            language="en",
        )
        kept = {k: data[k].strip() for k in _KEPT if data.get(k, "").strip()}
        if "agreement" in kept:
            kept["agreement"] = kept["agreement"].lower() == "true"
        response = ResponseRow(
            model=data["model"].strip(),
            text=data["completion"],
            refusal_label=label,
            labeller=HUMAN_LABELLER,
            collection={"xstest": kept} if kept else None,
        )
        return ImportRow(line, prompt, response)
