from __future__ import annotations

import pytest

from annotation.identity import participant_token
from annotation.services import participant_enter
from studies.models import Pair, Scale, StudyItem
from tests.factories import FoundationModelFactory, PromptFactory, ResponseFactory, StudyFactory


def build_study(*, prompts: int = 6, models: int = 3, pairs: bool = True, attention: int = 0, **study_kwargs):
    """A recruiting study: `prompts` prompts × `models` responses as singles, one pair per prompt."""
    study = StudyFactory(**study_kwargs)
    for order, key in enumerate(("helpfulness", "frustration")):
        Scale.objects.create(study=study, key=key, question=f"How {key}?", min_value=1, max_value=7, order=order, low_anchor="low", high_anchor="high")
    model_objs = [FoundationModelFactory(name=f"m{i}") for i in range(models)]
    for _ in range(prompts):
        prompt = PromptFactory(study=study)
        responses = [ResponseFactory(prompt=prompt, model=m) for m in model_objs]
        for r in responses:
            StudyItem.objects.create(study=study, kind="single", prompt=prompt, response=r)
        if pairs and models >= 2:
            pair = Pair.objects.create(prompt=prompt, response_a=responses[0], response_b=responses[1])
            StudyItem.objects.create(study=study, kind="pair", prompt=prompt, pair=pair)
    for i in range(attention):
        StudyItem.objects.create(
            study=study, kind="attention", attention_text=f"Choose 2 everywhere ({i})",
            expected_values={"helpfulness": 2, "frustration": 2},
        )
    return study


def new_participant(study, external_id: str = ""):
    from annotation.identity import external_id_hash

    id_hash = external_id_hash(study_id=study.pk, external_id=external_id) if external_id else ""
    participant, _ = participant_enter(study=study, platform="prolific" if external_id else "direct", id_hash=id_hash, consent=True)
    return participant


def answer_for(assignment, *, value: int = 4, choice: str = "left") -> dict:
    if assignment.item.kind == "pair":
        return {"values": {}, "choice": choice}
    return {"values": {"helpfulness": value, "frustration": value}}


@pytest.fixture
def study(db):
    return build_study()


@pytest.fixture
def token_for():
    return lambda participant: participant_token(participant_id=participant.pk)
