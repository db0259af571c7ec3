"""Database-level invariants: they hold whatever code path writes the rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from annotation.models import Assignment, Rating, RatingValue
from studies.models import Pair, Scale, StudyItem
from tests.factories import (
    AssignmentFactory,
    PromptFactory,
    RatingFactory,
    ResponseFactory,
    ScaleFactory,
    SingleItemFactory,
    StudyFactory,
)

pytestmark = pytest.mark.django_db


def test_rating_second_for_same_assignment_refused_by_database():
    rating = RatingFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(
            assignment=rating.assignment, participant=rating.participant, item=rating.item, seconds=1
        )
    assert Rating.objects.count() == 1


def test_assignment_same_item_twice_for_participant_refused():
    first = AssignmentFactory(status=Assignment.Status.ANSWERED)
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignmentFactory(participant=first.participant, item=first.item, status=Assignment.Status.ANSWERED)


def test_assignment_second_open_reservation_refused():
    first = AssignmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignmentFactory(participant=first.participant)
    assert Assignment.objects.filter(participant=first.participant).count() == 1


def test_ratingvalue_out_of_scale_range_refused():
    rating = RatingFactory()
    scale = ScaleFactory(study=rating.item.study, min_value=1, max_value=7)
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingValue.objects.create(rating=rating, scale=scale, value=8, scale_min=1, scale_max=7)
    RatingValue.objects.create(rating=rating, scale=scale, value=7, scale_min=1, scale_max=7)
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingValue.objects.create(rating=rating, scale=scale, value=3, scale_min=1, scale_max=7)


def test_rating_negative_seconds_refused():
    assignment = AssignmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingFactory(assignment=assignment, seconds=-1)


def test_scale_min_not_below_max_refused():
    study = StudyFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Scale.objects.create(study=study, key="x", question="?", min_value=5, max_value=5)


def test_pair_same_response_twice_refused():
    response = ResponseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Pair.objects.create(prompt=response.prompt, response_a=response, response_b=response)


def test_studyitem_kind_must_match_content():
    item = SingleItemFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        StudyItem.objects.create(study=item.study, kind=StudyItem.Kind.PAIR, response=item.response)
    with pytest.raises(IntegrityError), transaction.atomic():
        StudyItem.objects.create(study=item.study, kind=StudyItem.Kind.SINGLE, response=item.response)


def test_prompt_source_id_unique_per_study():
    prompt = PromptFactory(source="xstest", source_id="v2-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptFactory(study=prompt.study, source="xstest", source_id="v2-1")
    PromptFactory(source="xstest", source_id="v2-1")  # another study may reuse it
