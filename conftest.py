"""Shared pytest fixtures: factories are in tests/factories.py; the browser in tests/browser/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_OUTPUT = Path(__file__).resolve().parent / "test-output"


@pytest.fixture(scope="session")
def test_output_dir() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def is_postgres(django_db_setup, django_db_blocker) -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    skip = pytest.mark.skip(reason="needs PostgreSQL (run the suite with DATABASE_URL set)")
    for item in items:
        if "postgres_only" in item.keywords and not on_postgres:
            item.add_marker(skip)


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL", "")
    return f"database: {'PostgreSQL' if url.startswith('postgres') else 'SQLite (embedded)'}"
