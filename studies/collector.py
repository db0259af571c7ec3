"""Collecting model responses from an OpenAI-compatible ``/v1/chat/completions`` endpoint.

For every prompt of a study that has no response from (model, condition) yet, one chat request
is sent; a second run therefore only asks for what is missing. ``concurrency`` workers share the
queue of prompts (a fixed pool rather than one task per prompt, so 80,000 prompts cost 80,000
list entries, not 80,000 tasks). Transient failures — HTTP 429 and 5xx, timeouts, refused or
dropped connections — are retried up to ``max_retries`` times with exponential backoff and full
jitter (a random wait in ``[0, min(backoff_max, backoff_base·2^attempt)]``), or after the
server's ``Retry-After`` (seconds or an HTTP date) when it sends one, never longer than
``backoff_max``. Other 4xx answers, malformed JSON and answers without choices are not retried:
asking again would get the same answer.

Django's ORM is synchronous, so the event loop never touches it: workers hand each answer to a
single writer coroutine, which saves whatever has arrived with one ``bulk_create`` through
``sync_to_async`` (one database thread). A response is thus committed moments after it arrives,
and an interrupted run (Ctrl-C, a crash, a cancelled task) loses nothing already received. Each
saved response records in ``Response.collection`` the endpoint (never the key), the request
parameters, latency, finish reason, token usage, the model id the server echoed and the number
of attempts.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.db import connections

from .models import FoundationModel, Response, Study
from .progress import Progress


@dataclass(frozen=True)
class CollectorConfig:
    base_url: str
    model: str
    condition: str = ""
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_retries: int = 5
    concurrency: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 60.0

    @property
    def endpoint(self) -> str:
        return chat_completions_url(self.base_url)


def chat_completions_url(base_url: str) -> str:
    """``{base}/v1/chat/completions`` for a server root or a base URL already ending in /v1."""
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def public_endpoint(url: str) -> str:
    """The endpoint as stored and printed: no user:password part and no query string."""
    return str(httpx.URL(url).copy_with(username=None, password=None, query=None))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


class RequestFailed(Exception):
    def __init__(
        self, reason: str, detail: str = "", *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail
        self.retryable, self.retry_after = retryable, retry_after


@dataclass
class Outcome:
    """The end of one prompt's requests: an answer to save, or why there is none."""

    prompt_id: int
    text: str | None = None
    collection: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    detail: str = ""


@dataclass
class CollectResult:
    requested: int = 0
    saved: int = 0
    failures: Counter = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    details: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def summary_lines(self, *, examples: int = 5) -> list[str]:
        lines = []
        for reason, n in self.failures.most_common():
            ids = ", ".join(str(i) for i in self.examples[reason][:examples])
            more = ", …" if n > examples else ""
            detail = f" — {self.details[reason]}" if self.details.get(reason) else ""
            lines.append(f"{reason}: {n} (prompt ids {ids}{more}){detail}")
        return lines


# -- one request ---------------------------------------------------------------------------------
def _payload(config: CollectorConfig, prompt: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": prompt}]
    if config.system_prompt:
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    payload: dict[str, Any] = {"model": config.model, "messages": messages}
    if config.temperature is not None:
        payload["temperature"] = config.temperature
    if config.max_tokens is not None:
        payload["max_tokens"] = config.max_tokens
    return payload


async def request_completion(
    client: httpx.AsyncClient, config: CollectorConfig, prompt: str
) -> tuple[str, dict[str, Any]]:
    """One POST: ``(text, collection metadata)`` or :class:`RequestFailed`."""
    key = os.environ.get(config.api_key_env) if config.api_key_env else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    try:
        reply = await client.post(config.endpoint, json=_payload(config, prompt), headers=headers)
    except httpx.TimeoutException as exc:
        raise RequestFailed("timeout", type(exc).__name__, retryable=True) from exc
    except httpx.TransportError as exc:
        raise RequestFailed(
            "connection_error", str(exc) or type(exc).__name__, retryable=True
        ) from exc
    except httpx.RequestError as exc:
        raise RequestFailed("request_error", str(exc), retryable=False) from exc
    latency = time.perf_counter() - started
    status = reply.status_code
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(reply.headers.get("Retry-After"))
        raise RequestFailed(
            f"http_{status}", reply.text[:200], retryable=True, retry_after=retry_after
        )
    if status >= 400:
        raise RequestFailed(f"http_{status}", reply.text[:200], retryable=False)
    try:
        body = reply.json()
    except ValueError as exc:
        raise RequestFailed("malformed_json", reply.text[:80], retryable=False) from exc
    try:
        choice = body["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise RequestFailed("no_choices", str(body)[:120], retryable=False) from exc
    finish_reason = choice.get("finish_reason")
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        if finish_reason != "content_filter":
            raise RequestFailed("no_content", f"finish_reason {finish_reason!r}", retryable=False)
        text = ""  # the provider's filter withheld the answer: an observation worth keeping
    return text, {
        "latency_s": round(latency, 3),
        "finish_reason": finish_reason,
        "usage": body.get("usage"),
        "server_model": body.get("model"),
        "response_id": body.get("id"),
    }


async def complete_with_retries(
    client: httpx.AsyncClient,
    config: CollectorConfig,
    prompt_id: int,
    prompt: str,
    *,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> Outcome:
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            text, meta = await request_completion(client, config, prompt)
        except RequestFailed as exc:
            if not exc.retryable or attempt >= config.max_retries:
                return Outcome(prompt_id, failure=exc.reason, detail=exc.detail[:200])
            cap = min(config.backoff_max, config.backoff_base * 2**attempt)
            delay = exc.retry_after if exc.retry_after is not None else rng.uniform(0, cap)
            attempt += 1
            await sleep(min(delay, config.backoff_max))
            continue
        collection = {
            "endpoint": public_endpoint(config.endpoint),
            "request": {
                "model": config.model,
                "system_prompt": config.system_prompt,
                "temperature": config.temperature,
                "max_tokens": config.max_tokens,
            },
            **meta,
            "attempts": attempt + 1,
            "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return Outcome(prompt_id, text=text, collection=collection)


# -- the run -----------------------------------------------------------------------------------
async def collect_async(
    prompts: list[tuple[int, str]],
    config: CollectorConfig,
    *,
    save: Callable[[list[Outcome]], Awaitable[Any]],
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: random.Random | None = None,
    progress: Progress | None = None,
) -> CollectResult:
    """Ask for every ``(prompt_id, text)`` and ``save`` each batch of answers as it arrives."""
    result = CollectResult(requested=len(prompts))
    queue: asyncio.Queue[Outcome | None] = asyncio.Queue()
    pending = iter(prompts)
    rng = rng or random.Random()

    async def worker(client: httpx.AsyncClient) -> None:
        for prompt_id, text in pending:  # one shared iterator: each prompt is taken once
            queue.put_nowait(
                await complete_with_retries(client, config, prompt_id, text, sleep=sleep, rng=rng)
            )

    async def writer() -> None:
        finished = False
        while not finished:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            finished = None in batch
            outcomes = [o for o in batch if o is not None]
            answers = [o for o in outcomes if o.failure is None]
            if answers:
                await save(answers)
                result.saved += len(answers)
            for o in outcomes:
                if o.failure is not None:
                    result.failures[o.failure] += 1
                    result.examples[o.failure].append(o.prompt_id)
                    result.details.setdefault(o.failure, o.detail)
            if progress is not None:
                progress.update(len(outcomes))

    writing = asyncio.create_task(writer())
    limits = httpx.Limits(max_connections=config.concurrency)
    try:
        async with httpx.AsyncClient(
            timeout=config.timeout, transport=transport, limits=limits
        ) as client:
            await asyncio.gather(*(worker(client) for _ in range(max(1, config.concurrency))))
    finally:
        # also on cancellation: what has arrived is still written before we return
        queue.put_nowait(None)
        await writing
    return result


def _prepare(study: Study, config: CollectorConfig) -> tuple[int, list[tuple[int, str]]]:
    from .selectors import prompts_missing_response

    model, _ = FoundationModel.objects.get_or_create(name=config.model)
    missing = prompts_missing_response(study=study, model=model, condition=config.condition)
    return model.pk, list(missing.values_list("pk", "text"))


def _save(model_id: int, condition: str, outcomes: list[Outcome]) -> None:
    # ignore_conflicts: a second collector on the same study must not crash this one
    Response.objects.bulk_create(
        [
            Response(
                prompt_id=o.prompt_id,
                model_id=model_id,
                condition=condition,
                text=o.text,
                collection=o.collection,
            )
            for o in outcomes
        ],
        ignore_conflicts=True,
    )


async def responses_collect_async(
    *,
    study: Study,
    config: CollectorConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    progress: Progress | None = None,
) -> CollectResult:
    """Fill the study's missing responses from (model, condition); see the module docstring."""
    db = sync_to_async(lambda fn, *args: fn(*args), thread_sensitive=True)
    try:
        model_id, prompts = await db(_prepare, study, config)
        if progress is not None:
            progress.total = len(prompts)

        async def save(outcomes: list[Outcome]) -> None:
            await db(_save, model_id, config.condition, outcomes)

        return await collect_async(
            prompts, config, save=save, transport=transport, sleep=sleep, progress=progress
        )
    finally:
        # the database thread outlives this run: leave no connection open in it
        await db(connections.close_all)


def responses_collect(
    *,
    study: Study,
    config: CollectorConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Progress | None = None,
) -> CollectResult:
    """Synchronous entry point (commands): runs :func:`responses_collect_async` to the end."""
    return asyncio.run(
        responses_collect_async(study=study, config=config, transport=transport, progress=progress)
    )
