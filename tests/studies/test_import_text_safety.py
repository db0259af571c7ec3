"""Text that no database column takes is refused on its line, in the validation pass."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from studies.models import Prompt, Response

pytestmark = pytest.mark.django_db


def test_jsonl_with_nul_and_lone_surrogate_rejected_whole(tmp_path):
    good = {"prompt": "How do I kill a Python process?", "response": "Use kill.", "model": "m", "category": "benign"}
    lines = [
        json.dumps(good),
        json.dumps({**good, "prompt": "Nul here", "response": "bad\u0000text"}),
        '{"prompt": "lone \\ud800 surrogate", "response": "x", "model": "m", "category": "benign"}',
        '{"prompt": "fine", "response": "x", "model": "m", "category": "benign", "domain": "a\\u0000b"}',
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CommandError) as excinfo:
        call_command("import_responses", str(path), "--study", "nul-study", "--format", "jsonl")
    message = str(excinfo.value)
    assert f"{path}:2:" in message and "NUL" in message
    assert f"{path}:3:" in message and "surrogate" in message
    assert f"{path}:4:" in message
    assert Prompt.objects.count() == 0 and Response.objects.count() == 0
