"""Fixtures of the researcher API tests: the four kinds of caller and a piloted study."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.identity import participant_token
from annotation.simulation import simulate_participants
from studies.models import Response
from tests.annotation.conftest import build_study, new_participant


def client_with(authorization: str | None) -> APIClient:
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user("researcher", is_staff=True)


@pytest.fixture
def staff_token(staff_user) -> str:
    return Token.objects.create(user=staff_user).key


@pytest.fixture
def api(staff_token) -> APIClient:
    """A researcher: staff user with a DRF token."""
    return client_with(f"Token {staff_token}")


@pytest.fixture
def anonymous() -> APIClient:
    return client_with(None)


@pytest.fixture
def non_staff(db) -> APIClient:
    user = get_user_model().objects.create_user("someone")
    return client_with(f"Token {Token.objects.create(user=user).key}")


@pytest.fixture
def study(db):
    """A recruiting study with 6 prompts × 3 models, pairs, one attention check, no ratings."""
    return build_study(attention=1, attention_check_interval=3)


@pytest.fixture
def participant_client(study) -> APIClient:
    """A real participant of ``study`` with a valid participant-API Bearer token."""
    participant = new_participant(study, external_id="worker-1")
    return client_with(f"Bearer {participant_token(participant_id=participant.pk)}")


@pytest.fixture
def piloted(db):
    """A study with labelled responses and 8 simulated participants' ratings."""
    study = build_study(
        prompts=8,
        models=3,
        items_per_participant=6,
        ratings_per_item=3,
        attention=1,
        attention_check_interval=3,
    )
    labels = ["full_compliance", "full_refusal", "partial_refusal"]
    responses = list(Response.objects.filter(prompt__study=study).order_by("pk"))
    for i, response in enumerate(responses):
        response.refusal_label = labels[i % 3]
    Response.objects.bulk_update(responses, ["refusal_label"])
    simulate_participants(study=study, n=8, seed=3, speeders=0.25)
    return study
