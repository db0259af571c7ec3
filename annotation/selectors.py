"""Reads for the annotator pages and the participant API, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from studies.models import Prompt, Scale, Study, StudyItem

from . import sql
from .models import Assignment, Participant


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


def study_for_entry(*, slug: str) -> Study | None:
    return Study.objects.filter(slug=slug).first()


def participant_in_study(*, study: Study, participant_id: int | None) -> Participant | None:
    if participant_id is None:
        return None
    return Participant.objects.filter(pk=participant_id, study=study).first()


def task_view(*, assignment: Assignment, answered_regular: int, study: Study) -> TaskView:
    item = sql.item_content(assignment.item_id)
    if item.kind == StudyItem.Kind.PAIR:
        a, b = item.response_a_text, item.response_b_text
        left, right = (a, b) if assignment.left_is_a else (b, a)
        responses = [ShownResponse("left", "Response A", left), ShownResponse("right", "Response B", right)]
    elif item.kind == StudyItem.Kind.SINGLE:
        responses = [ShownResponse("single", "Response", item.response_text)]
    else:
        responses = [ShownResponse("single", "Response", item.attention_text)]
    media = {}
    if item.prompt_image:
        media["image"] = Prompt._meta.get_field("image").storage.url(item.prompt_image)
    if item.prompt_audio:
        media["audio"] = Prompt._meta.get_field("audio").storage.url(item.prompt_audio)
    is_attention = item.kind == StudyItem.Kind.ATTENTION
    return TaskView(
        assignment_id=assignment.pk,
        kind=item.kind,
        prompt_text=item.prompt_text if item.prompt_text is not None else "Attention check",
        responses=responses,
        scales=item.scales,
        position=min(answered_regular + (0 if is_attention else 1), study.items_per_participant),
        total=study.items_per_participant,
        is_attention=is_attention,
        prompt_media=media,
    )
