"""The refusal-labeller contract.

A labeller turns one (prompt, response) pair into a :class:`LabelResult`. Strategies live one per
module beside this file (``string_match``, ``orbench_keyword``, ``refusal_substrings``,
``judge``), the way ``django.contrib.sessions.backends`` keeps one backend per module; callers
obtain them by name through :func:`studies.labelling.get_labeller`.

Labellers are plain Python: no ORM, no settings. The ``label_refusals`` command (or any other
caller) reads responses, calls :meth:`Labeller.label` and stores ``label``, ``score`` and the
labeller's :attr:`Labeller.name` itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar

FULL_COMPLIANCE = "full_compliance"
PARTIAL_REFUSAL = "partial_refusal"
FULL_REFUSAL = "full_refusal"
#: The three classes of XSTest's annotation scheme, as stored in ``Response.refusal_label``.
LABELS = (FULL_COMPLIANCE, PARTIAL_REFUSAL, FULL_REFUSAL)

#: XSTest spells its classes with a numeric prefix; the project stores them without it.
XSTEST_CODES = {
    "1_full_compliance": FULL_COMPLIANCE,
    "2_full_refusal": FULL_REFUSAL,
    "3_partial_refusal": PARTIAL_REFUSAL,
}
LABEL_TO_XSTEST = {v: k for k, v in XSTEST_CODES.items()}


@dataclass(frozen=True, slots=True)
class LabelResult:
    """The outcome of labelling one response.

    ``label``
        One of :data:`LABELS`, or ``None`` when the strategy could not decide (a judge answer that
        names no class). ``None`` is never silently turned into a class: callers leave the
        response unlabelled and metrics count it as missing, not as compliance.
    ``score``
        A numeric refusal score where the strategy defines one (``refusal_substrings``: Arditi et
        al.'s 1/0 indicator, whose mean is the refusal score RS), else ``None``.
    ``raw``
        What the decision was based on, for auditing: the matched prefix or substring (empty when
        nothing matched) or the judge's full answer text.
    ``malformed``
        ``True`` when the strategy received an answer it could not parse (judges only).
    """

    label: str | None
    score: float | None = None
    raw: str = ""
    malformed: bool = False

    @property
    def refused(self) -> bool | None:
        """True for full or partial refusal, False for compliance, None when unlabelled."""
        if self.label is None:
            return None
        return self.label != FULL_COMPLIANCE


class Labeller:
    """Base class of refusal labellers.

    Subclasses set :attr:`name` and override :meth:`label`. Options (a checker variant, a judge
    endpoint …) are keyword arguments of ``__init__`` so that ``get_labeller(name, **options)``
    can build any strategy the same way. Labellers must be deterministic for a given input
    unless they call an external model, and must not raise on unusual text (empty responses,
    non-English text): an undecidable input gives ``LabelResult(label=None, ...)``.
    """

    #: Registry name, stored in ``Response.labeller``.
    name: ClassVar[str] = ""
    #: Whether this labeller can output ``partial_refusal`` at all. String matchers cannot, so an
    #: ORR computed from them with ``partial_counts=True`` still misses partial refusals.
    detects_partial: ClassVar[bool] = False

    def label(self, prompt: str, response: str) -> LabelResult:
        """Label one response to ``prompt``. Override in every strategy."""
        raise NotImplementedError("subclasses of Labeller must implement label()")

    def label_many(self, pairs: Iterable[tuple[str, str]]) -> list[LabelResult]:
        """Label many ``(prompt, response)`` pairs in order.

        The default calls :meth:`label` once per pair; a strategy that can batch (a judge with a
        batch endpoint) may override it.
        """
        return [self.label(prompt, response) for prompt, response in pairs]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@cache
def classifier_data() -> dict[str, Any]:
    """The classifier lists and judge prompts shipped in ``data/refusal_classifiers.json``.

    Each entry keeps its ``source`` and ``licence`` next to the verbatim list or prompt, so the
    attribution travels with the data. Read once per process.
    """
    text = (
        resources.files(__package__)
        .joinpath("data", "refusal_classifiers.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)
