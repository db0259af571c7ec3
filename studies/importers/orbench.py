"""OR-Bench (Cui et al., 2024; github.com/justincui03/or-bench): CSV ``prompt,
category``, where ``category`` is one of OR-Bench's ten topics (deception, harassment, harmful,
hate, illegal, privacy, self-harm, sexual, unethical, violence).

OR-Bench ships three sets, and which one a file is decides ``should_refuse`` (option
``orbench_set``):

``80k``      OR-Bench-80K: seemingly toxic but benign prompts → ``seemingly_toxic``, 0
``hard-1k``  OR-Bench-Hard-1K: the benign prompts most models over-refuse → ``seemingly_toxic``, 0
``toxic``    OR-Bench-Toxic: genuinely harmful prompts → ``harmful``, 1

Without the option the set is guessed from the file name (``toxic``, ``hard`` or ``80k`` in it,
as in the released ``or-bench-toxic.csv``); a file name that says none of these is an error, not
a guess. Mapping: source ``orbench``; the files carry no ids, so source_id is a digest of the
prompt text (stable across re-imports); prompt_type ``or-bench-<set>``; domain = OR-Bench's
category. Files of 80,000 rows stream (see :mod:`.base`).
"""

from __future__ import annotations

from typing import Any

from ..models import Prompt
from .base import CSVImporter, ImportRow, PromptRow, RowError, text_digest
from .readers import Record

SETS = {
    "80k": (Prompt.Category.SEEMINGLY_TOXIC, False),
    "hard-1k": (Prompt.Category.SEEMINGLY_TOXIC, False),
    "toxic": (Prompt.Category.HARMFUL, True),
}
_HINTS = (("toxic", "toxic"), ("hard", "hard-1k"), ("80k", "80k"))


class ORBenchImporter(CSVImporter):
    name = "orbench"
    extensions = ()
    options = ("orbench_set",)
    required_columns = ("prompt", "category")

    def __init__(self, *, filename: str = "", orbench_set: str | None = None, **options: Any):
        super().__init__(filename=filename, **options)
        if orbench_set is None:
            lowered = filename.lower()
            orbench_set = next((s for hint, s in _HINTS if hint in lowered), None)
        if orbench_set not in SETS:
            raise ValueError(
                "say which OR-Bench set this is: orbench_set '80k' or 'hard-1k' (benign, "
                "should_refuse=0) or 'toxic' (should_refuse=1)"
            )
        self.orbench_set = orbench_set

    def parse(self, record: Record) -> ImportRow:
        text, topic = record.data["prompt"], record.data["category"].strip()
        if not topic:
            raise RowError("empty category")
        category, should_refuse = SETS[self.orbench_set]
        prompt = PromptRow(
            source="orbench",
            source_id=text_digest(text),
            text=text,
            category=category,
            should_refuse=should_refuse,
            prompt_type=f"or-bench-{self.orbench_set}",
            domain=topic,
            language="en",
        )
        return ImportRow(record.line, prompt)
