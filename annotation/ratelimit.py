"""Per-client-IP rate limits for the endpoints worth flooding: login and participant creation.

Counters live in Django's cache (``settings.CACHES["default"]``), which must be shared by every
worker process: a per-process cache would multiply the limit by the number of gunicorn
workers. Fixed windows keep it to one counter per client and scope; the cache's ``incr`` is not
atomic on every backend, so a burst of simultaneous requests may let a few extra through — a
limit against floods and password guessing, not an exact quota.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

# Which views count against which limit (URL names; POST only). The consent form creates a
# participant just as the participant API does, so both draw on the same allowance.
SCOPES_BY_VIEW = {
    "admin:login": "login",
    "participant-create": "participant",
    "annotation:consent": "participant",
}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/60"``: ten requests per 60-second window."""
        count, _, seconds = text.partition("/")
        rate = cls(int(count), int(seconds or 60))
        if rate.count < 1 or rate.seconds < 1:
            raise ValueError(f"rate must be '<count>/<seconds>' with both positive: {text!r}")
        return rate


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting exactly ``RATELIMIT_PROXY_COUNT`` reverse proxies.

    Behind N proxies the client is the N-th address from the right of X-Forwarded-For (each
    proxy appends what it saw); anything further left was written by the client and could be
    forged to dodge the limit, so it is never used.
    """
    proxies = settings.RATELIMIT_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _key(scope: str, ip: str, window: int) -> str:
    # Client addresses are personal data: the cache (a database table by default) only ever
    # holds a keyed hash of them.
    digest = hmac.new(settings.SECRET_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{window}"


def ratelimit_hit(*, scope: str, ip: str, now: float | None = None) -> Verdict:
    """Count one request of ``ip`` against ``scope`` and say whether it may proceed."""
    if ip in settings.RATELIMIT_EXEMPT_IPS:
        return Verdict(True)
    rate = Rate.parse(settings.RATELIMITS[scope])
    now = time.time() if now is None else now
    window = int(now // rate.seconds)
    key = _key(scope, ip, window)
    retry_after = max(1, int((window + 1) * rate.seconds - now + 0.999))
    # The key outlives its window by a little so a slow clock cannot resurrect an old count.
    cache.add(key, 0, timeout=rate.seconds + 5)
    try:
        hits = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the window's first hit
        cache.set(key, 1, timeout=rate.seconds + 5)
        hits = 1
    return Verdict(hits <= rate.count, 0 if hits <= rate.count else retry_after)
