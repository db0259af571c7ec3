"""annotation/sql.py on PostgreSQL: its statements are prepared, the ORM's are not."""

from __future__ import annotations

import pytest
from django.db import connection

from annotation.services import assignment_claim_next, rating_submit
from studies.models import StudyItem
from tests.annotation.conftest import answer_for, build_study, new_participant

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_hot_path_statements_are_prepared_after_a_few_runs():
    study = build_study(prompts=8, models=2, items_per_participant=6)
    for i in range(3):
        person = new_participant(study, f"p{i}")
        for _ in range(6):
            claim = assignment_claim_next(participant=person)
            if claim.done:
                break
            rating_submit(participant=person, assignment_id=claim.assignment.pk, **answer_for(claim.assignment))
    prepared = prepared_statements()
    # The lock, the history and the submit's lock have each run more than five times.
    assert any("FROM studies_study WHERE id = $1 FOR NO KEY UPDATE" in s for s in prepared), prepared
    assert any("LEFT JOIN annotation_assignment" in s for s in prepared), prepared
    # Django's own queries bind on the client and are never prepared.
    assert all("$1" in s for s in prepared), prepared


def test_orm_queries_keep_client_side_binding_for_long_in_lists():
    # Server-side binding caps a statement at 65,535 parameters; the ORM must not inherit it.
    assert StudyItem.objects.filter(pk__in=list(range(1, 70_001))).count() == 0
