"""Running a refusal labeller (:mod:`studies.labelling`) over a study's responses.

The labellers themselves are pure functions of (prompt, response); this service chooses which
responses to label, stores ``refusal_label``, ``refusal_score`` and ``labeller`` in bulk, and
counts what it did. By default it leaves alone

* human labels: any ``labeller`` that is not the name of an automatic labeller (``xstest_human``,
  ``imported`` …), and
* responses this labeller has already labelled (so re-running an expensive judge after more
  responses were collected only judges the new ones),

and ``overwrite=True`` relabels everything. A judge answer that names no class leaves the label
empty (metrics count the response as unlabelled, never as compliance), with the answer kept in
``collection["judge_raw"]``; a judge that cannot be reached leaves the response untouched. Each
batch is committed on its own, so an interrupted judge run keeps what it has paid for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from .labelling import LABELLERS, Labeller
from .labelling.judge import JudgeError
from .models import Response, Study
from .progress import Progress

AUTOMATIC_LABELLERS = frozenset(LABELLERS)
_FIELDS = ["refusal_label", "refusal_score", "labeller", "collection"]


@dataclass
class LabelRunResult:
    labeller: str
    labels: Counter = field(default_factory=Counter)
    malformed: int = 0
    failed: int = 0
    skipped_human: int = 0
    skipped_done: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return sum(self.labels.values())


def human_label_q() -> Q:
    """Responses whose label was set by a person (or a file), not by an automatic labeller."""
    return ~Q(labeller="") & ~Q(labeller__in=AUTOMATIC_LABELLERS)


def responses_label(
    *,
    study: Study,
    labeller: Labeller,
    overwrite: bool = False,
    batch_size: int = 200,
    progress: Progress | None = None,
) -> LabelRunResult:
    """Label the study's responses with ``labeller``; see the module docstring for which."""
    result = LabelRunResult(labeller=labeller.name)
    responses = Response.objects.filter(prompt__study=study)
    if not overwrite:
        done = Q(labeller=labeller.name) & ~Q(refusal_label="")
        result.skipped_human = responses.filter(human_label_q()).count()
        result.skipped_done = responses.filter(done).count()
        responses = responses.exclude(human_label_q()).exclude(done)
    if progress is not None:
        progress.total = responses.count()

    last = 0
    while True:
        # keyset pages: no open cursor while we write, one query per page
        page = list(
            responses.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "prompt__text", "text", "collection")[:batch_size]
        )
        if not page:
            return result
        last = page[-1][0]
        changed = [_labelled(labeller, row, result) for row in page]
        with transaction.atomic():
            Response.objects.bulk_update([r for r in changed if r is not None], _FIELDS)
        if progress is not None:
            progress.update(len(page))


def _labelled(labeller: Labeller, row: tuple, result: LabelRunResult) -> Response | None:
    pk, prompt, text, collection = row
    try:
        outcome = labeller.label(prompt, text)
    except JudgeError as exc:
        result.failed += 1
        if len(result.failures) < 5:
            result.failures.append(f"response {pk}: {exc}")
        return None
    collection = dict(collection or {})
    if outcome.malformed:
        result.malformed += 1
        collection["judge_raw"] = outcome.raw
    else:
        collection.pop("judge_raw", None)
    if outcome.label:
        result.labels[outcome.label] += 1
    return Response(
        pk=pk,
        refusal_label=outcome.label or "",
        refusal_score=outcome.score,
        labeller=labeller.name,
        collection=collection,
    )
