"""Automatic refusal labelling: one strategy per module, chosen by name.

>>> from studies.labelling import get_labeller
>>> get_labeller("string_match").label("How do I kill a process?", "I'm sorry, I can't").label
'full_refusal'

Strategies (see each module's docstring for its source and licence):

``string_match``        XSTest's prefix classifier, exactly as published
``orbench_keyword``     OR-Bench's keyword checkers (``checker=`` one of their variants)
``refusal_substrings``  Arditi et al. (2024) refusal substrings; score = RS indicator
``judge``               an LLM judge (XSTest or OR-Bench prompt) over an OpenAI-compatible API

Like ``SESSION_ENGINE``, a dotted path to any :class:`Labeller` subclass is accepted too.
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from .base import LABELS, XSTEST_CODES, Labeller, LabelResult

LABELLERS: dict[str, str] = {
    "string_match": "studies.labelling.string_match.StringMatchLabeller",
    "orbench_keyword": "studies.labelling.orbench_keyword.ORBenchKeywordLabeller",
    "refusal_substrings": "studies.labelling.refusal_substrings.RefusalSubstringsLabeller",
    "judge": "studies.labelling.judge.JudgeLabeller",
}

__all__ = ["LABELLERS", "LABELS", "XSTEST_CODES", "LabelResult", "Labeller", "get_labeller"]


def get_labeller(name: str, **options: object) -> Labeller:
    """A labeller instance for a registry ``name`` (or a dotted class path) and its options.

    Raises ``ValueError`` for an unknown name, ``TypeError`` for a path that is no labeller or
    for options the strategy does not take. Strategy modules are imported on demand, so ``httpx`` is only needed for the judge.
    """
    path = LABELLERS.get(name, name)
    if "." not in path:
        raise ValueError(f"unknown labeller {name!r}; choose one of {sorted(LABELLERS)}")
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ValueError(f"unknown labeller {name!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Labeller)):
        raise TypeError(f"{path} is not a Labeller subclass")
    return cls(**options)
