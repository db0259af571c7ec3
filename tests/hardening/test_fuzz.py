"""Property-based fuzzing of the participant API's two write endpoints.

Whatever arrives — any JSON, broken JSON, wrong types, huge numbers, other people's
assignments — the answer is never a 5xx, and a 4xx leaves the database as it was. Examples
are derandomised and bounded so that CI runs the same few hundred requests every time.
"""

from __future__ import annotations

import json

import pytest
from django.db.models import Count
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from annotation.identity import participant_token
from annotation.models import Assignment, Participant, Rating, RatingValue
from annotation.services import assignment_claim_next, rating_submit
from studies.models import Study
from tests.annotation.conftest import answer_for, build_study, new_participant

pytestmark = pytest.mark.django_db

FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Strings that look like ids to a careless parser: unicode digits, signs, padding, overflow.
id_like = st.one_of(
    st.text(alphabet="0123456789²³٣߃+- .e", min_size=1, max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


def fingerprint() -> tuple:
    """Everything a refused request must leave untouched."""
    return (
        Rating.objects.count(),
        RatingValue.objects.count(),
        tuple(Assignment.objects.order_by("pk").values_list("pk", "status", "expires_at")),
        tuple(Participant.objects.order_by("pk").values_list("pk", "status", "last_seen_at", "attention_failures")),
        tuple(Study.objects.order_by("pk").values_list("pk", "consent_declines")),
    )


@pytest.fixture
def world(db):
    """Two studies; a participant with an open single, one with an open pair, an answered
    item, and assignments of someone else and of another study to aim at."""
    study = build_study(prompts=4, models=3, items_per_participant=3, ratings_per_item=3)
    other_study = build_study(prompts=2, models=2, items_per_participant=2)
    me = new_participant(study, "fuzzer")
    first = assignment_claim_next(participant=me).assignment
    rating_submit(participant=me, assignment_id=first.pk, **answer_for(first))
    mine = assignment_claim_next(participant=me).assignment
    someone = new_participant(study, "someone-else")
    theirs = assignment_claim_next(participant=someone).assignment
    stranger = new_participant(other_study, "stranger")
    foreign = assignment_claim_next(participant=stranger).assignment
    return {
        "study": study,
        "token": participant_token(participant_id=me.pk),
        "ids": [first.pk, mine.pk, theirs.pk, foreign.pk],
        "open": mine,
        "answered": first,
    }


def submit_bodies(ids: list[int]):
    values = st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["helpfulness", "frustration", "bogus", ""]),
            st.one_of(st.integers(min_value=-3, max_value=10), json_scalars, id_like),
            max_size=3,
        ),
    )
    assignment = st.one_of(st.sampled_from(ids), st.sampled_from(ids).map(str), json_values, id_like)
    choice = st.one_of(st.sampled_from(["left", "right", "tie", "LEFT", ""]), json_values)
    structured = st.fixed_dictionaries(
        {"assignment": assignment, "values": values}, optional={"choice": choice, "extra": json_values}
    )
    return st.one_of(structured.map(json.dumps), json_values.map(json.dumps), st.binary(max_size=200))


@given(data=st.data())
@FUZZ
@example(data=None)  # the hand-picked cases below run first, then the generated ones
def test_submit_random_input_never_5xx_and_4xx_changes_nothing(client, world, data):
    token = world["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if data is None:
        bodies = [
            '{"assignment": "²", "values": {}}',
            '{"assignment": "9' + "9" * 5000 + '", "values": {}}',
            json.dumps({"assignment": 2**70, "values": {}}),
            json.dumps({"assignment": -1, "values": {}}),
            json.dumps({"assignment": world["open"].pk, "values": {}, "choice": []}),
            json.dumps({"assignment": world["open"].pk, "values": {}, "choice": {"a": 1}}),
            json.dumps({"assignment": world["open"].pk, "values": {"helpfulness": 2**64, "frustration": 1}}),
            json.dumps({"assignment": world["open"].pk, "values": {"helpfulness": True, "frustration": 1.0}}),
            '{"assignment": 1, "values": {"helpfulness": NaN}}',
            '{"assignment": "\\ud800", "values": {}}',
            "[]",
            "null",
            "\xff\xfe not json",
        ]
    else:
        bodies = [data.draw(submit_bodies(world["ids"]), label="body")]
    for body in bodies:
        before = fingerprint()
        response = client.post("/api/v1/participant/ratings/", body, content_type="application/json", **auth)
        assert response.status_code < 500, (body, response.content)
        if response.status_code == 201:
            # Only a complete, in-range answer to this participant's own open item gets in.
            assert response.json()["assignment"] == world["open"].pk
            assert Rating.objects.count() == before[0] + 1
        else:
            # A refusal, or an identical replay of a stored answer (200), changes nothing.
            assert fingerprint() == before, (body, response.status_code)


def create_bodies():
    fields = st.fixed_dictionaries(
        {},
        optional={
            "external_id": st.one_of(st.text(max_size=200), json_values, id_like),
            "platform": st.one_of(st.sampled_from(["prolific", "mturk", "direct", "PROLIFIC", ""]), json_values),
            "consent": st.one_of(st.booleans(), st.sampled_from(["true", "yes", "0", 1, 0]), json_values),
        },
    )
    return st.one_of(fields.map(json.dumps), json_values.map(json.dumps), st.binary(max_size=200))


@given(data=st.data())
@FUZZ
@example(data=None)
def test_participant_create_random_input_never_5xx(client, world, settings, data):
    settings.RATELIMIT_EXEMPT_IPS = ["127.0.0.1"]  # hundreds of requests from one address
    study = world["study"]
    if data is None:
        bodies = [
            '{"external_id": "\\ud800", "consent": true}',
            '{"external_id": "a\\u0000b", "consent": true}',
            json.dumps({"external_id": "x" * 129, "consent": True}),
            json.dumps({"external_id": "ok", "platform": ["prolific"], "consent": True}),
            json.dumps({"external_id": {"$gt": ""}, "consent": True}),
            '{"consent": true, "consent": false}',
            "[1, 2]",
        ]
    else:
        bodies = [data.draw(create_bodies(), label="body")]
    for body in bodies:
        participants = Participant.objects.count()
        assignments = Assignment.objects.count()
        response = client.post(f"/api/v1/studies/{study.slug}/participants/", body, content_type="application/json")
        assert response.status_code < 500, (body, response.content)
        assert Assignment.objects.count() == assignments
        if response.status_code >= 400:
            # A refusal stores nobody (declining consent only bumps the study's counter).
            assert Participant.objects.count() == participants, body
        else:
            assert set(response.json()) == {"participant", "token", "status"}
    # However often a crowd id came back, it is one participant.
    assert not Participant.objects.exclude(external_id_hash="").values("study", "external_id_hash").annotate(
        n=Count("pk")
    ).filter(n__gt=1).exists()
