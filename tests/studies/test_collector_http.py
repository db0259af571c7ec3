"""Collector edge cases over httpx.MockTransport: no server, no database."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from studies.collector import (
    CollectorConfig,
    chat_completions_url,
    collect_async,
    complete_with_retries,
    parse_retry_after,
    public_endpoint,
)

OK = {
    "id": "c1",
    "model": "m",
    "choices": [{"message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
}


def run(handler, *, config: CollectorConfig | None = None, sleeps: list | None = None):
    config = config or CollectorConfig(base_url="http://llm.test", model="m", max_retries=2)
    sleeps = [] if sleeps is None else sleeps

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await complete_with_retries(
                client, config, 7, "Hi?", sleep=sleep, rng=random.Random(1)
            )

    return asyncio.run(go())


def test_chat_completions_url_accepts_base_urls_with_or_without_v1():
    for base in ("http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/"):
        assert chat_completions_url(base) == "http://h:8000/v1/chat/completions"
    assert public_endpoint("http://user:pw@h/v1/chat/completions?key=1") == (
        "http://h/v1/chat/completions"
    )


def test_parse_retry_after_seconds_and_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-4") == 0 and parse_retry_after("nan") is None


def test_success_records_metadata():
    outcome = run(lambda request: httpx.Response(200, json={**OK, "usage": {"total_tokens": 3}}))
    assert outcome.failure is None and outcome.text == "Hello"
    assert outcome.collection["usage"] == {"total_tokens": 3}
    assert outcome.collection["attempts"] == 1 and outcome.collection["response_id"] == "c1"


def test_malformed_json_and_missing_choices_fail_without_retry():
    calls = []

    def malformed(request):
        calls.append(request)
        return httpx.Response(200, content=b"{not json")

    outcome = run(malformed)
    assert (outcome.failure, len(calls)) == ("malformed_json", 1)
    outcome = run(lambda request: httpx.Response(200, json={"id": "x", "choices": []}))
    assert outcome.failure == "no_choices"
    outcome = run(lambda request: httpx.Response(200, json={"object": "error"}))
    assert outcome.failure == "no_choices"


def test_null_content_is_a_failure_unless_the_provider_filtered_it():
    def reply(finish_reason):
        choice = {"message": {"role": "assistant", "content": None}, "finish_reason": finish_reason}
        return lambda request: httpx.Response(200, json={"choices": [choice]})

    assert run(reply("tool_calls")).failure == "no_content"
    filtered = run(reply("content_filter"))
    assert filtered.failure is None and filtered.text == ""


def test_retry_after_http_date_is_honoured_and_capped():
    later = datetime.now(UTC) + timedelta(seconds=20)
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": format_datetime(later, usegmt=True)}),
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(200, json=OK),
        ]
    )
    sleeps: list[float] = []
    config = CollectorConfig(base_url="http://h", model="m", max_retries=3, backoff_max=30)
    outcome = run(lambda request: next(answers), config=config, sleeps=sleeps)
    assert outcome.text == "Hello" and outcome.collection["attempts"] == 3
    assert 18 < sleeps[0] <= 20  # the date, less the time the test took
    assert sleeps[1] == 30  # an hour is capped at backoff_max


def test_backoff_is_full_jitter_and_gives_up_after_max_retries():
    sleeps: list[float] = []
    config = CollectorConfig(
        base_url="http://h", model="m", max_retries=4, backoff_base=1.0, backoff_max=5.0
    )
    outcome = run(
        lambda request: httpx.Response(502, text="bad gateway"), config=config, sleeps=sleeps
    )
    assert outcome.failure == "http_502" and "bad gateway" in outcome.detail
    assert len(sleeps) == 4
    for attempt, slept in enumerate(sleeps):
        assert 0 <= slept <= min(5.0, 2**attempt)


def test_client_errors_other_than_429_are_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(404, json={"error": "model not found"})

    assert run(handler).failure == "http_404" and len(calls) == 1


def test_connection_errors_and_timeouts_are_retried():
    errors = iter([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])

    def handler(request):
        error = next(errors, None)
        if error:
            raise error
        return httpx.Response(200, json=OK)

    outcome = run(handler)
    assert outcome.text == "Hello" and outcome.collection["attempts"] == 3


def test_collect_async_bounds_concurrency_and_saves_every_answer():
    in_flight, peak, saved = 0, 0, []

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        prompt = json.loads(request.content)["messages"][-1]["content"]
        if prompt == "p13":
            return httpx.Response(400, json={"error": "bad"})
        return httpx.Response(200, json=OK)

    async def save(outcomes):
        saved.extend(o.prompt_id for o in outcomes)

    config = CollectorConfig(base_url="http://h", model="m", concurrency=3)
    prompts = [(i, f"p{i}") for i in range(40)]
    result = asyncio.run(
        collect_async(prompts, config, save=save, transport=httpx.MockTransport(handler))
    )
    assert peak <= 3
    assert sorted(saved) == [i for i in range(40) if i != 13]
    assert (result.saved, result.failed, result.examples["http_400"]) == (39, 1, [13])
    assert result.summary_lines() == ['http_400: 1 (prompt ids 13) — {"error":"bad"}']


@pytest.mark.parametrize("content", ["", "   "])
def test_empty_text_answers_are_kept(content):
    body = {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
    assert run(lambda request: httpx.Response(200, json=body)).text == content
