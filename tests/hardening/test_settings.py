"""Production settings, checked the way production loads them: in a fresh process with
DEBUG off and everything secret coming from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-" + "x" * 50
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": SECRET,
    "DJANGO_ALLOWED_HOSTS": "lab.example.org",
    "PARTICIPANT_ID_SECRET": "another-" + "y" * 50,
}
PROBE = """
import json, django
from django.conf import settings
django.setup()
names = ["DEBUG", "SECRET_KEY", "PARTICIPANT_ID_SECRET", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE",
         "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
         "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_PROXY_SSL_HEADER", "SECURE_CONTENT_TYPE_NOSNIFF",
         "X_FRAME_OPTIONS", "SESSION_COOKIE_HTTPONLY", "CACHES", "RATELIMITS", "MIDDLEWARE"]
print(json.dumps({n: getattr(settings, n) for n in names}))
"""


def run(code_or_args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "PARTICIPANT_ID_SECRET"}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run([sys.executable, *code_or_args], check=False, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_off_turns_on_https_hardening_and_takes_secrets_from_environment():
    result = run(["-c", PROBE], PRODUCTION)
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["DEBUG"] is False
    assert s["SECRET_KEY"] == SECRET and s["PARTICIPANT_ID_SECRET"] == PRODUCTION["PARTICIPANT_ID_SECRET"]
    assert s["ALLOWED_HOSTS"] == ["lab.example.org"]
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SECURE_SSL_REDIRECT"] and s["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and s["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["X_FRAME_OPTIONS"] == "DENY"
    # Rate-limit counters must be shared by all workers: never a per-process cache.
    assert "locmem" not in s["CACHES"]["default"]["BACKEND"].lower()
    assert "annotation.middleware.RateLimitMiddleware" in s["MIDDLEWARE"]


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run(["-c", PROBE], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr


def test_participant_id_secret_defaults_to_the_secret_key_never_to_a_constant():
    env = {k: v for k, v in PRODUCTION.items() if k != "PARTICIPANT_ID_SECRET"}
    s = json.loads(run(["-c", PROBE], env).stdout)
    assert s["PARTICIPANT_ID_SECRET"] == SECRET
