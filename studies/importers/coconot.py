"""CoCoNot (Brahman et al., NeurIPS 2024; github.com/allenai/noncompliance, MIT, © 2024 AI2).

JSON Lines with ``id, category, subcategory, prompt, response``. The released files carry an
empty ``response``: they are prompt sets. A line may also bring a ``response`` with a ``model``
(and an optional ``condition``) to import a model's answers.

Which set a file is decides what the prompts should get (option ``coconot_set``):

``contrast``  the contrast set (``coconot_contrast_eval.jsonl``): benign prompts that merely look
              like noncompliance triggers → category ``seemingly_toxic``, should_refuse 0
``original``  the noncompliance set: requests a model should not simply comply with →
              ``harmful``, should_refuse 1

Without the option the set is guessed from the file name (``contrast`` in it → contrast);
otherwise the importer asks for it rather than guess the one decision that matters most.
Mapping: source ``coconot``, source_id = ``id``, prompt_type = ``subcategory``, domain =
``category``.
"""

from __future__ import annotations

from typing import Any

from ..models import Prompt
from .base import ImportRow, JSONLImporter, PromptRow, ResponseRow, RowError
from .generic import text_value
from .readers import Record

SETS = {
    "contrast": (Prompt.Category.SEEMINGLY_TOXIC, False),
    "original": (Prompt.Category.HARMFUL, True),
}


class CoCoNotImporter(JSONLImporter):
    name = "coconot"
    extensions = ()
    options = ("coconot_set",)
    required_keys = ("id", "prompt")
    optional_keys = ("category", "subcategory", "response", "model", "condition")

    def __init__(self, *, filename: str = "", coconot_set: str | None = None, **options: Any):
        super().__init__(filename=filename, **options)
        if coconot_set is None and "contrast" in filename.lower():
            coconot_set = "contrast"
        if coconot_set not in SETS:
            raise ValueError(
                "say which CoCoNot set this is: coconot_set 'contrast' (benign, should_refuse=0) "
                "or 'original' (should_refuse=1)"
            )
        self.coconot_set = coconot_set

    def parse(self, record: Record) -> ImportRow:
        value = {k: text_value(record.data, k) for k in (*self.required_keys, *self.optional_keys)}
        if not value["id"].strip():
            raise RowError("empty id")
        category, should_refuse = SETS[self.coconot_set]
        prompt = PromptRow(
            source="coconot",
            source_id=value["id"].strip(),
            text=value["prompt"],
            category=category,
            should_refuse=should_refuse,
            prompt_type=value["subcategory"].strip() or None,
            domain=value["category"].strip() or None,
            language="en",
        )
        model = value["model"].strip()
        if not value["response"].strip():
            if model:
                raise RowError(f"model {model!r} given but the response is empty")
            return ImportRow(record.line, prompt)
        if not model:
            raise RowError("response given without a model")
        response = ResponseRow(
            model=model, text=value["response"], condition=value["condition"].strip()
        )
        return ImportRow(record.line, prompt, response)
