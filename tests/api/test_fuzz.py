"""Property-based run over the OpenAPI schema: no generated request gets a 5xx.

schemathesis generates requests from each operation of the researcher API's own schema (bodies,
query parameters; valid ones and, separately, ones that break the schema) and sends them with a
staff token through Django's WSGI application; every response must be no server error and, for
schema-valid requests, conform to the schema (status code, content type, body). The slug is
pinned to a piloted study so that requests reach the code behind the 404.

Examples are bounded (settings below) so that the run takes well under a minute.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotation.simulation import simulate_participants
from studies.models import Prompt, Response, Study
from tests.annotation.conftest import build_study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Requests that break the schema: the server must refuse them, never fail on them.
NEGATIVE_CHECKS = [not_a_server_error]
EXAMPLES = {"default": 12, "report": 3}


@contextmanager
def _test_transaction_kept():
    """Keep the test's transaction across a WSGI request, as Django's test client does:
    otherwise the end of the request closes the connection that holds it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(api):
    raw = api.get("/api/schema/?format=json")
    assert raw.status_code == 200
    schema = schemathesis.openapi.from_dict(json.loads(raw.content))
    schema.app = get_wsgi_application()
    return schema


def _fuzz(
    operation, mode: GenerationMode, *, study_slug: str, token: str, checks: list
) -> dict[int, int]:
    """Run the operation's generated requests; returns how often each status came back."""
    path_parameters = {"slug": study_slug} if "{slug}" in operation.path else None
    query = None
    if "/report." in operation.path:
        # The statistics are not what is fuzzed here: a few bootstrap resamples keep each call
        # short, every other option stays generated.
        query = {"n_boot": 10}
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=path_parameters, query=query
    )
    examples = EXAMPLES["report" if "/report." in operation.path else "default"]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        with _test_transaction_kept():
            response = case.call(headers={"Authorization": f"Token {token}"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=checks)

    statuses: dict[int, int] = {}
    try:
        run()
    except Unsatisfiable:
        # Nothing to break: every parameter of the operation is pinned or free-form text.
        if mode is not GenerationMode.NEGATIVE:
            raise
    return statuses


@pytest.fixture
def small_piloted(db):
    """A smaller piloted study than the shared fixture: the run's setup stays short."""
    study = build_study(
        prompts=4,
        models=3,
        items_per_participant=4,
        ratings_per_item=2,
        attention=1,
        attention_check_interval=2,
    )
    labels = ["full_compliance", "full_refusal", "partial_refusal"]
    responses = list(Response.objects.filter(prompt__study=study).order_by("pk"))
    for i, response in enumerate(responses):
        response.refusal_label = labels[i % 3]
    Response.objects.bulk_update(responses, ["refusal_label"])
    simulate_participants(study=study, n=6, seed=3)
    return study


def test_fuzz_researcher_api_finds_no_server_error(api_schema, small_piloted, staff_token):
    study = small_piloted
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 16
    pristine = Study.objects.filter(pk=study.pk).values().get()
    seen = {}
    for operation in operations:
        # Each operation meets the study as built, not as the PATCH fuzzing left it.
        Study.objects.filter(pk=study.pk).update(**pristine)
        modes = [(GenerationMode.POSITIVE, POSITIVE_CHECKS)]
        if list(operation.query) or list(operation.body):  # else nothing to break
            modes.append((GenerationMode.NEGATIVE, NEGATIVE_CHECKS))
        for mode, checks in modes:
            started = time.perf_counter()
            statuses = _fuzz(
                operation, mode, study_slug=study.slug, token=staff_token, checks=checks
            )
            seconds = time.perf_counter() - started
            seen[operation.label, mode.value] = statuses
            # shown with -s: what the run did
            print(f"{operation.label:48} {mode.value:8} {seconds:5.1f}s {sorted(statuses.items())}")
    # Requests got past validation, not only refused: 2xx answers on every operation but the
    # bulk upload, whose elements must agree across keys in ways a schema cannot say
    # (test_bulk_upload_is_all_or_nothing generates those).
    refused_only = [
        label
        for (label, mode), statuses in seen.items()
        if mode == "positive" and not any(200 <= code < 300 for code in statuses)
    ]
    assert refused_only == ["POST /api/v1/studies/{slug}/responses/bulk/"]


def test_fuzz_harness_notices_a_server_error(api_schema, staff_token, study, monkeypatch):
    # The run above proves something only if a 5xx would fail it.
    from studies import apis

    def broken(self, request, slug):
        raise RuntimeError("boom")

    monkeypatch.setattr(apis.PromptListApi, "get", broken)
    operation = api_schema["/api/v1/studies/{slug}/prompts/"]["GET"]
    with pytest.raises(FailureGroup) as failed:
        _fuzz(
            operation,
            GenerationMode.POSITIVE,
            study_slug=study.slug,
            token=staff_token,
            checks=[not_a_server_error],
        )
    assert any(isinstance(exc, ServerError) for exc in failed.value.exceptions)


# -- the bulk upload: all or nothing, whatever the batch ------------------------------------------
_text = st.text(min_size=1, max_size=40).filter(str.strip)
_valid = st.fixed_dictionaries(
    {"prompt": _text, "category": st.sampled_from(["benign", "seemingly_toxic", "harmful"])},
    optional={
        "domain": st.text(max_size=20),
        "language": st.sampled_from(["en", "de", "fr"]),
        "response": _text,
    },
)
_junk = st.one_of(
    st.fixed_dictionaries({"response": _text}),  # no prompt
    st.fixed_dictionaries({"prompt": _text, "category": st.just("benign"), "colour": _text}),
    st.fixed_dictionaries(
        {"prompt": _text, "category": st.just("benign"), "should_refuse": st.just(1)}
    ),
    st.integers() | st.lists(st.integers(), max_size=2) | st.none(),  # not an object
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(st.tuples(st.booleans(), _valid, _junk), min_size=1, max_size=8))
def test_bulk_upload_is_all_or_nothing(api, study, batch):
    elements, junk = [], set()
    for index, (is_junk, valid, bad) in enumerate(batch):
        if is_junk:
            elements.append(bad)
            junk.add(index)
            continue
        element = {**valid, "source_id": f"fz-{index}-{len(elements)}"}
        if "response" in element:
            element["model"] = "fuzz-model"
        elements.append(element)
    before = (Prompt.objects.count(), Response.objects.count())
    response = api.post(f"/api/v1/studies/{study.slug}/responses/bulk/", elements, format="json")
    assert response.status_code in (200, 201, 400), response.content[:300]
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: both branches run
    if response.status_code == 400:
        reported = [e["index"] for e in response.json()["errors"]]
        assert reported == sorted(set(reported))
        assert junk <= set(reported) <= set(range(len(elements)))
        assert (Prompt.objects.count(), Response.objects.count()) == before  # nothing
    else:
        assert not junk
        result = response.json()
        assert result["rows"] == len(elements)
        assert Prompt.objects.count() == before[0] + result["prompts_created"]
