"""collect_responses against a real HTTP server on 127.0.0.1 (retries, resumption, cancel)."""

from __future__ import annotations

import asyncio
import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from studies.collector import CollectorConfig, responses_collect_async
from studies.models import Prompt, Response
from tests.factories import PromptFactory, StudyFactory

from .fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {"backoff_base": 0.01, "backoff_max": 2.0}


@pytest.fixture
def server():
    fake = FakeOpenAI(slow_seconds=1.0).start()
    yield fake
    fake.stop()


def collect(study, server, **options) -> str:
    out = io.StringIO()
    options = {"model": "tiny", "base_url": server.url, "max_retries": 3, **options}
    options.setdefault("backoff_base", FAST["backoff_base"])
    options.setdefault("backoff_max", FAST["backoff_max"])
    call_command("collect_responses", study=study.slug, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def _study(*texts):
    study = StudyFactory()
    for text in texts:
        PromptFactory(study=study, text=text)
    return study


def test_collector_retries_timeouts_429_500_and_dropped_connections(server, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sekrit")
    study = _study("plain one", "plain two", "SLOW one", "RATE one", "ERROR one", "DROP one")

    out = collect(
        study,
        server,
        base_url=server.url + "/v1/",
        api_key_env="TEST_LLM_KEY",
        timeout=0.4,
        concurrency=3,
        system_prompt="Be brief.",
        temperature=0.0,
        max_tokens=64,
    )

    assert "asked 6 prompts, saved 6 responses" in out
    responses = {r.prompt.text: r for r in Response.objects.select_related("prompt")}
    assert set(responses) == set(Prompt.objects.values_list("text", flat=True))
    assert responses["plain one"].text == "Answer to: plain one"
    for marker in ("SLOW", "RATE", "ERROR", "DROP"):
        assert responses[f"{marker} one"].collection["attempts"] == 2, marker
        assert len(server.asked(f"{marker} one")) == 2, marker
    rate = server.asked("RATE one")
    assert rate[1]["at"] - rate[0]["at"] >= 0.95  # Retry-After: 1 honoured

    meta = responses["plain one"].collection
    assert meta["endpoint"] == server.url + "/v1/chat/completions"
    assert "sekrit" not in str(meta)
    assert meta["finish_reason"] == "stop" and meta["server_model"] == "served/tiny"
    assert meta["usage"]["total_tokens"] == 12 and meta["latency_s"] >= 0
    assert meta["request"] == {
        "model": "tiny",
        "system_prompt": "Be brief.",
        "temperature": 0.0,
        "max_tokens": 64,
    }
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["authorization"] == "Bearer sekrit"
    assert first["body"]["messages"][0] == {"role": "system", "content": "Be brief."}

    # resumable: nothing is missing, so nothing is asked
    before = len(server.requests)
    assert "asked 0 prompts" in collect(study, server)
    assert len(server.requests) == before


def test_collector_second_run_fills_exactly_what_failed(server):
    study = _study("a", "b FAIL", "c", "d FAIL", "e", "f")
    with pytest.raises(CommandError) as failure:
        collect(study, server, max_retries=1, concurrency=2)
    message = str(failure.value)
    assert "2 prompts got no response" in message and "http_500: 2 (prompt ids" in message
    assert Response.objects.count() == 4

    server.healed.set()
    asked_before = len(server.requests)
    out = collect(study, server, concurrency=2)
    assert "asked 2 prompts, saved 2 responses" in out
    assert sorted(r["prompt"] for r in server.requests[asked_before:]) == ["b FAIL", "d FAIL"]
    per_prompt = Counter(Response.objects.values_list("prompt_id", flat=True))
    assert sorted(per_prompt.values()) == [1] * 6


def test_cancelled_run_keeps_what_arrived_and_the_next_run_fills_the_rest(server):
    study = _study("one", "two", "three", "four", "five HANG", "six HANG")
    config = CollectorConfig(base_url=server.url, model="tiny", concurrency=2, timeout=30, **FAST)

    async def interrupted():
        await asyncio.wait_for(responses_collect_async(study=study, config=config), timeout=1.5)

    with pytest.raises(TimeoutError):
        asyncio.run(interrupted())
    saved = set(Response.objects.values_list("prompt__text", flat=True))
    assert saved == {"one", "two", "three", "four"}

    server.healed.set()
    asked_before = len(server.requests)
    assert "asked 2 prompts, saved 2 responses" in collect(study, server)
    assert sorted(r["prompt"] for r in server.requests[asked_before:]) == ["five HANG", "six HANG"]
    assert Response.objects.count() == 6
    assert Response.objects.values("prompt_id", "model_id").distinct().count() == 6
