"""Settings for Refusal Perception Lab: one module, driven by environment variables.

Every knob is read from the environment (``DJANGO_``-prefixed where Django has no
convention of its own). The defaults are safe for local work: DEBUG on, embedded SQLite.
With DEBUG off, the secret key and allowed hosts must come from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    # Only ever used for local development; production refuses to start without a key.
    SECRET_KEY = "dev-insecure-" + "k" * 50

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Keyed hash for crowd-platform ids; separate from SECRET_KEY so that rotating sessions'
# signing key does not orphan returning participants.
PARTICIPANT_ID_SECRET = os.environ.get("PARTICIPANT_ID_SECRET", SECRET_KEY)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by the app, not a CDN (config/api_docs.py)
    "django_htmx",
    "studies",
    "annotation",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "annotation.middleware.RequestBodyLimitMiddleware",
    "annotation.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "annotation.middleware.RateLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATA_DIR = Path(os.environ.get("DJANGO_DATA_DIR", BASE_DIR / "var"))

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes every write transaction take the write lock at BEGIN, so two
    # writers cannot both read a free slot and then both claim it (the assignment service
    # relies on this); WAL lets readers go on while one process writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that threads and live servers share it; one per test run (the
    # name is put in the environment so subprocesses the tests start use the same file).
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.setdefault(
            "DJANGO_TEST_DB_NAME", str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")
        )
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and os.environ.get(
    "DJANGO_DB_PREPARED_STATEMENTS", "1"
) != "0":
    # psycopg prepares a statement once a connection has run it five times. Only the
    # annotator's hot path (annotation/sql.py) binds parameters on the server, which preparing
    # needs; Django's usual cursors bind on the client and are never prepared. Parsing and
    # planning were most of PostgreSQL's CPU on that path (load benchmark: 2.9 -> 1.2 ms per
    # request). Pays off with persistent connections (DJANGO_CONN_MAX_AGE). Set
    # DJANGO_DB_PREPARED_STATEMENTS=0 behind a transaction-pooling PgBouncer that does not
    # track prepared statements (before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(prepare_threshold=5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
# WhiteNoise serves static files in every environment; finders spare a collectstatic step.
WHITENOISE_USE_FINDERS = env_bool("DJANGO_STATIC_FINDERS", True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", DATA_DIR / "media"))

# Public base URL used when commands print links (demo, admin).
SITE_URL = os.environ.get("DJANGO_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Refusal Perception Lab API",
    "DESCRIPTION": (
        "Researcher API of Refusal Perception Lab (staff only: `Authorization: Token <key>`, "
        "from `manage.py drf_create_token <username>`). The participant API is in the README."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Researcher API: the schema and its docs page are staff-only (config/api_docs.py).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "PREPROCESSING_HOOKS": ["config.api_docs.researcher_endpoints_only"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "StudyStatusEnum": "studies.models.Study.Status",
        "ParticipantStatusEnum": "annotation.models.Participant.Status",
    },
}

# Request bodies larger than this are refused before a view sees them (forms by Django, JSON
# and everything else by annotation.middleware); multipart uploads (admin media) get their own.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", str(5 * 2**20)))
UPLOAD_MAX_BYTES = int(os.environ.get("DJANGO_UPLOAD_MAX_BYTES", str(100 * 2**20)))
# Seconds a client is asked to wait (Retry-After) when the database is not answering.
DATABASE_UNAVAILABLE_RETRY_AFTER = int(os.environ.get("DJANGO_DB_UNAVAILABLE_RETRY_AFTER", "5"))

# The cache holds rate-limit counters, so every gunicorn worker (and every app server) must
# share it: a database table needs no extra service and survives restarts. Created by
# `migrate` (annotation.apps) and by the test runner.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "rpl_cache",
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    }
}
# Per client IP, "<requests>/<seconds>" (annotation.ratelimit). Participant creation covers the
# API and the consent form; an external survey tool creating participants from its own server
# belongs in RATELIMIT_EXEMPT_IPS rather than in a higher limit for everyone.
RATELIMITS = {
    "login": os.environ.get("DJANGO_RATELIMIT_LOGIN", "10/60"),
    "participant": os.environ.get("DJANGO_RATELIMIT_PARTICIPANT", "60/60"),
}
RATELIMIT_EXEMPT_IPS = env_list("DJANGO_RATELIMIT_EXEMPT_IPS")
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
RATELIMIT_PROXY_COUNT = int(os.environ.get("DJANGO_RATELIMIT_PROXY_COUNT", "0"))

# Production hardening: active whenever DEBUG is off (the app is expected behind HTTPS).
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# Raw crowd ids must never reach a log: every handler redacts them from request lines
# (annotation.log_filters); the development server's request log gets the same filter.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_crowd_ids": {"()": "annotation.log_filters.RedactCrowdIds"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_crowd_ids"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_crowd_ids"],
        },
    },
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
