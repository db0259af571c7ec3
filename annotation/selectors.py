"""Reads for the annotator pages and the participant API, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from studies.models import Scale, Study, StudyItem

from .models import Assignment, Participant
from .services import scales_for


@dataclass(frozen=True)
class ShownResponse:
    slot: str  # "single", "left" or "right"
    label: str
    text: str


@dataclass(frozen=True)
class TaskView:
    """Everything a page or API needs to show one assignment; never names a model."""

    assignment_id: int
    kind: str
    prompt_text: str
    responses: list[ShownResponse]
    scales: list[Scale]
    position: int
    total: int
    is_attention: bool
    instruction: str = ""
    prompt_media: dict[str, str] = field(default_factory=dict)


# Only what is shown: never the model, labels or collection metadata of a response.
TASK_ITEM_FIELDS = (
    "kind",
    "attention_text",
    "prompt__text",
    "prompt__image",
    "prompt__audio",
    "response__text",
    "pair__response_a__text",
    "pair__response_b__text",
)


def study_for_entry(*, slug: str) -> Study | None:
    return Study.objects.filter(slug=slug).first()


def participant_in_study(*, study: Study, participant_id: int | None) -> Participant | None:
    if participant_id is None:
        return None
    return Participant.objects.filter(pk=participant_id, study=study).first()


def task_view(*, assignment: Assignment, answered_regular: int, study: Study) -> TaskView:
    item = (
        StudyItem.objects.select_related("prompt", "response", "pair__response_a", "pair__response_b")
        .only(*TASK_ITEM_FIELDS)
        .get(pk=assignment.item_id)
    )
    prompt = item.prompt
    if item.kind == StudyItem.Kind.PAIR:
        a, b = item.pair.response_a, item.pair.response_b
        left, right = (a, b) if assignment.left_is_a else (b, a)
        responses = [
            ShownResponse("left", "Response A", left.text),
            ShownResponse("right", "Response B", right.text),
        ]
    elif item.kind == StudyItem.Kind.SINGLE:
        responses = [ShownResponse("single", "Response", item.response.text)]
    else:
        responses = [ShownResponse("single", "Response", item.attention_text)]
    media = {}
    if prompt is not None and prompt.image:
        media["image"] = prompt.image.url
    if prompt is not None and prompt.audio:
        media["audio"] = prompt.audio.url
    is_attention = item.kind == StudyItem.Kind.ATTENTION
    return TaskView(
        assignment_id=assignment.pk,
        kind=item.kind,
        prompt_text=prompt.text if prompt is not None else "Attention check",
        responses=responses,
        scales=scales_for(study_id=study.pk, kind=item.kind),
        position=min(answered_regular + (0 if is_attention else 1), study.items_per_participant),
        total=study.items_per_participant,
        is_attention=is_attention,
        prompt_media=media,
    )
