"""The demo study: real XSTest v2 prompts and human-labelled completions (see fixtures/xstest).

Sixty prompts, five from each of six safe XSTest types and five from each matching unsafe
contrast type, answered by three models with clearly different over-refusal on safe prompts
(human labels: llama2orig 59.6 %, gpt4 8.4 %, mistralinstruct 1.6 %).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .models import FoundationModel, Prompt, Response, Study, StudyItem
from .services import study_build_items, study_ensure_default_scales

DEMO_SLUG = "xstest-demo"
FIXTURE_DIR = Path(settings.BASE_DIR) / "fixtures" / "xstest"
SAFE_TYPES = (
    "homonyms",
    "figurative_language",
    "safe_targets",
    "safe_contexts",
    "definitions",
    "historical_events",
)
PER_TYPE = 5
DEMO_MODELS = {
    "llama2orig": ("Meta", "Llama-2-70b-chat-hf with its original system prompt"),
    "gpt4": ("OpenAI", "GPT-4 (XSTest release, 2023)"),
    "mistralinstruct": ("Mistral AI", "Mistral-7B-Instruct-v0.1"),
}
XSTEST_LABELS = {
    "1_full_compliance": Response.RefusalLabel.FULL_COMPLIANCE,
    "2_full_refusal": Response.RefusalLabel.FULL_REFUSAL,
    "3_partial_refusal": Response.RefusalLabel.PARTIAL_REFUSAL,
}

CONSENT_MD = """\
## Consent to take part

**Content warning.** Some of the questions that people asked the AI assistants in this study are
deliberately harmful or disturbing (for example about violence, drugs, discrimination or
privacy). You will read these questions and the assistants' answers, some of which may describe
harmful things.

You will rate about 20 AI responses for how helpful and how frustrating they are, and choose
between pairs of responses. It takes about 10 minutes. Taking part is voluntary; you may stop at
any time by closing the page. We store your ratings, the time you spent on each item and a
pseudonym — never your name or your crowd-platform ID in readable form.

The data are used for research on how people experience AI refusals and may be published in
anonymised form.
"""

INSTRUCTIONS_MD = """\
## Instructions

You will see a question that someone asked an AI assistant, and the assistant's answer.

* Imagine **you** asked the question. Rate how **helpful** and how **frustrating** the answer
  would be to you, from 1 (not at all) to 7 (extremely).
* Sometimes you will see **two** answers to the same question. Choose the one you would rather
  receive, or *No preference*.
* Keyboard: number keys pick values, **a** / **b** / **n** pick in pairs, **Enter** submits.

Occasionally an item asks you to give a specific answer, to check that you are reading carefully.
"""

ATTENTION_TEXT = (
    "This is an attention check, not a model response. To show that you read this, "
    "choose 2 on every scale."
)


@dataclass(frozen=True)
class DemoResult:
    study: Study
    created: bool
    prompts: int
    responses: int
    items: int


def _selected_prompts() -> list[dict[str, str]]:
    with (FIXTURE_DIR / "xstest_v2_prompts.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    chosen: list[dict[str, str]] = []
    for safe_type in SAFE_TYPES:
        for prompt_type in (safe_type, f"contrast_{safe_type}"):
            chosen += [r for r in rows if r["type"] == prompt_type][:PER_TYPE]
    return chosen


def _completions(prompt_ids: set[str]) -> list[dict[str, str]]:
    with (FIXTURE_DIR / "xstest_v2_completions_labelled.csv").open(newline="", encoding="utf-8") as fh:
        return [
            r
            for r in csv.DictReader(fh)
            if r["model"] in DEMO_MODELS and r["id"] in prompt_ids
        ]


@transaction.atomic
def demo_study_ensure() -> DemoResult:
    """Create the demo study if it is missing; a second call changes nothing."""
    study, created = Study.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "title": "How do people experience AI refusals? (XSTest demo)",
            "description": "Demo study built from XSTest v2 (Röttger et al., NAACL 2024).",
            "status": Study.Status.RECRUITING,
            "consent_md": CONSENT_MD,
            "instructions_md": INSTRUCTIONS_MD,
            "ratings_per_item": 3,
            "items_per_participant": 20,
            "attention_check_interval": 10,
            "completion_code": "XSTDEMO1",
            "exclusion_rules": {
                "attention_failures_max": 0,
                "min_median_seconds": 3,
                "straightline_run": 10,
                "require_complete": True,
            },
        },
    )
    study_ensure_default_scales(study=study)

    models = {}
    for name, (provider, notes) in DEMO_MODELS.items():
        models[name], _ = FoundationModel.objects.get_or_create(
            name=name, defaults={"provider": provider, "notes": notes}
        )

    selected = _selected_prompts()
    existing = {p.source_id: p for p in Prompt.objects.filter(study=study, source="xstest")}
    new_prompts = []
    for row in selected:
        source_id = f"v2-{row['id']}"
        if source_id in existing:
            continue
        unsafe = row["label"] == "unsafe"
        new_prompts.append(
            Prompt(
                study=study,
                text=row["prompt"],
                category=Prompt.Category.HARMFUL if unsafe else Prompt.Category.SEEMINGLY_TOXIC,
                should_refuse=unsafe,
                prompt_type=row["type"],
                domain=row["focus"],
                language="en",
                source="xstest",
                source_id=source_id,
            )
        )
    Prompt.objects.bulk_create(new_prompts)
    prompts = {p.source_id: p for p in Prompt.objects.filter(study=study, source="xstest")}

    have = set(
        Response.objects.filter(prompt__study=study).values_list("prompt__source_id", "model__name")
    )
    new_responses = [
        Response(
            prompt=prompts[row["id"]],
            model=models[row["model"]],
            text=row["completion"],
            refusal_label=XSTEST_LABELS[row["final_label"]],
            labeller="xstest_human",
        )
        for row in _completions(set(prompts))
        if (row["id"], row["model"]) not in have
    ]
    Response.objects.bulk_create(new_responses)

    # One A/B pair per prompt keeps the demo short; singles cover every response.
    study_build_items(study=study, max_pairs_per_prompt=1)
    if not StudyItem.objects.filter(study=study, kind=StudyItem.Kind.ATTENTION).exists():
        StudyItem.objects.create(
            study=study,
            kind=StudyItem.Kind.ATTENTION,
            attention_text=ATTENTION_TEXT,
            expected_values={"helpfulness": 2, "frustration": 2},
        )
    return DemoResult(
        study=study,
        created=created,
        prompts=len(prompts),
        responses=Response.objects.filter(prompt__study=study).count(),
        items=StudyItem.objects.filter(study=study).count(),
    )
