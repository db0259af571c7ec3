"""The generic row format shared by the ``csv`` and ``jsonl`` importers.

One row (a CSV line or a JSON object) is a prompt and, optionally, one model's response to it:

=================  ==========================================================================
``prompt``         required, the prompt text
``response``       the response text; empty or absent for a prompt-only row
``model``          foundation model name; required when there is a response (created if new)
``category``       ``benign`` | ``seemingly_toxic`` | ``harmful``
``should_refuse``  ``0``/``1`` (also ``true``/``false``); give it, ``category``, or both (they
                   must agree: harmful ⇔ 1). From ``should_refuse`` alone: 0 → benign, 1 →
                   harmful; from ``category`` alone: harmful → 1, else 0
``domain``         topic, free text (e.g. ``health``)
``language``       language code, default ``en``
``source_id``      the benchmark's id for the prompt. When blank, a stable id is derived from
                   the prompt text (``sha1-…``), so re-importing the file finds the same prompt
``source``         optional: the benchmark's name (default: the format, ``csv`` or ``jsonl``)
``prompt_type``    optional: the benchmark's own prompt type
``condition``      optional: variant of the model, e.g. a system prompt name (default blank)
``refusal_label``  optional: ``full_compliance`` | ``partial_refusal`` | ``full_refusal``
                   (XSTest's ``1_``/``2_``/``3_`` spellings accepted)
``refusal_style``  optional: ``none`` | ``direct`` | ``explanation`` | ``redirection`` |
                   ``partial_compliance``
``labeller``       optional: who made ``refusal_label`` (default ``imported``); a labeller name
                   that is not one of the automatic classifiers counts as a human label, which
                   ``label_refusals`` leaves alone unless told ``--overwrite``
=================  ==========================================================================

The same (prompt, model, condition) twice in one file is an error. Other columns are rejected,
so that a misspelt optional column is not silently ignored.
"""

from __future__ import annotations

import re
from typing import Any

from ..models import Prompt
from ..services import prompt_category_for
from .base import ImportRow, PromptRow, ResponseRow, RowError, text_digest
from .readers import Record

REQUIRED = ("prompt",)
OPTIONAL = (
    "response",
    "model",
    "category",
    "should_refuse",
    "domain",
    "language",
    "source_id",
    "source",
    "prompt_type",
    "condition",
    "refusal_label",
    "refusal_style",
    "labeller",
)
_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no"}
_XSTEST_PREFIX = re.compile(r"^[123]_")


def text_value(data: dict[str, Any], key: str) -> str:
    """The value as text: JSON numbers become text (ids), null and absent become ''."""
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise RowError(f"{key} must be text, found {type(value).__name__}")


def _should_refuse(value: str) -> bool | None:
    value = value.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RowError(f"should_refuse must be 0 or 1, found {value!r}")


def category_and_target(category: str, should_refuse: str) -> tuple[str, bool]:
    """Reconcile ``category`` and ``should_refuse`` as documented above."""
    category = category.strip()
    target = _should_refuse(should_refuse)
    if category and category not in Prompt.Category.values:
        allowed = ", ".join(Prompt.Category.values)
        raise RowError(f"unknown category {category!r} (expected {allowed})")
    if not category and target is None:
        raise RowError("needs category or should_refuse")
    if not category:
        return prompt_category_for(should_refuse=bool(target)), bool(target)
    harmful = category == Prompt.Category.HARMFUL
    if target is not None and target != harmful:
        raise RowError(f"category {category} contradicts should_refuse={int(target)}")
    return category, harmful


def parse_generic(record: Record, *, default_source: str) -> ImportRow:
    data = record.data
    value = {key: text_value(data, key) for key in (*REQUIRED, *OPTIONAL)}
    text = value["prompt"]
    if not text.strip():
        raise RowError("empty prompt")
    category, should_refuse = category_and_target(value["category"], value["should_refuse"])
    prompt = PromptRow(
        source=value["source"].strip() or default_source,
        source_id=value["source_id"].strip() or text_digest(text),
        text=text,
        category=category,
        should_refuse=should_refuse,
        prompt_type=value["prompt_type"].strip() or None,
        domain=value["domain"].strip() or None,
        language=value["language"].strip() or None,
    )
    model, response_text = value["model"].strip(), value["response"]
    if not response_text.strip():
        if model:
            raise RowError(f"model {model!r} given but the response is empty")
        if any(value[k].strip() for k in ("refusal_label", "refusal_style", "condition")):
            raise RowError("refusal_label, refusal_style or condition given without a response")
        return ImportRow(record.line, prompt)
    if not model:
        raise RowError("response given without a model")
    label = _XSTEST_PREFIX.sub("", value["refusal_label"].strip().lower()) or None
    response = ResponseRow(
        model=model,
        text=response_text,
        condition=value["condition"].strip(),
        refusal_label=label,
        refusal_style=value["refusal_style"].strip().lower() or None,
        labeller=value["labeller"].strip() or None,
    )
    return ImportRow(record.line, prompt, response)
