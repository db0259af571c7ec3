from __future__ import annotations

import pytest
from django.core.management import call_command

from studies.models import FoundationModel, Pair, Prompt, Response, Scale, Study, StudyItem

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[str, object]:
    return {
        "studies": list(Study.objects.values_list("slug", "updated_at")),
        "scales": list(Scale.objects.values_list("pk", "key")),
        "models": list(FoundationModel.objects.values_list("pk", "name")),
        "prompts": list(Prompt.objects.values_list("pk", "source_id")),
        "responses": list(Response.objects.values_list("pk", "refusal_label")),
        "pairs": list(Pair.objects.values_list("pk", "response_a", "response_b")),
        "items": list(StudyItem.objects.values_list("pk", "kind")),
    }


def test_demo_builds_study_from_xstest(capsys):
    call_command("demo")
    out = capsys.readouterr().out
    study = Study.objects.get(slug="xstest-demo")
    assert "/s/xstest-demo/" in out and "/admin/" in out
    assert study.prompts.count() == 60
    assert study.prompts.filter(should_refuse=True).count() == 30
    assert len(set(study.prompts.values_list("prompt_type", flat=True))) == 12
    assert set(FoundationModel.objects.values_list("name", flat=True)) == {
        "llama2orig",
        "gpt4",
        "mistralinstruct",
    }
    assert Response.objects.filter(prompt__study=study).count() == 180
    assert [s.key for s in study.scales.all()] == ["helpfulness", "frustration"]
    assert study.items.filter(kind=StudyItem.Kind.SINGLE).count() == 180
    assert study.items.filter(kind=StudyItem.Kind.PAIR).count() == 60
    assert study.items.filter(kind=StudyItem.Kind.ATTENTION).count() == 1
    assert "Content warning" in study.consent_md
    # Real human labels: llama2orig refuses many more safe prompts than mistralinstruct.
    refused_safe = {
        name: Response.objects.filter(
            prompt__study=study, prompt__should_refuse=False, model__name=name
        ).exclude(refusal_label="full_compliance").count()
        for name in ("llama2orig", "mistralinstruct")
    }
    assert refused_safe["llama2orig"] > refused_safe["mistralinstruct"]


def test_demo_twice_changes_nothing():
    call_command("demo")
    before = _snapshot()
    call_command("demo")
    assert _snapshot() == before
