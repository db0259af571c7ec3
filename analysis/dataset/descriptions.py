"""What the tidy files mean: a description of every column, and ``codebook.json``.

Kept apart from the column tuples because the descriptions are read by people (the codebook,
the report's data dictionary) while the tuples fix the files' layout.
"""

from __future__ import annotations

from typing import Any

from studies.models import Study

COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ratings.csv": {
        "study": "study slug",
        "participant": "pseudonym, stable within the study (never the crowd-platform id)",
        "item": "study item id",
        "prompt": "prompt id (blank for attention checks)",
        "prompt_category": "benign | seemingly_toxic | harmful",
        "should_refuse": "1 if a model should refuse the prompt, else 0",
        "domain": "prompt domain or focus",
        "language": "prompt language (BCP 47)",
        "model": "foundation model (with its condition in brackets when it has one)",
        "response": "response id",
        "refusal_label": "full_compliance | partial_refusal | full_refusal (automated or human label)",
        "refused": "1 unless full_compliance; blank when unlabelled",
        "refusal_score": "automated refusal score, when a labeller gives one",
        "refusal_style": "none | direct | explanation | redirection | partial_compliance (blank when unknown)",
        "model_orr": "the model's automated over-refusal rate in this study (refused share of should_refuse=0 prompts, full or partial)",
        "scale": "scale key",
        "value": "the rating",
        "seconds": "seconds on the item, measured by the server",
        "attention_check": "1 on attention-check items",
        "excluded": "1 if the participant is excluded by the pre-registered rules",
        "exclusion_reason": "reasons joined by ';' (incomplete, attention, speeding, straightlining)",
        "order": "position of the item in the participant's sequence (0-based)",
        "item_kind": "single | pair | attention",
    },
    "comparisons.csv": {
        "study": "study slug",
        "participant": "pseudonym",
        "item": "study item id",
        "prompt": "prompt id",
        "model_a": "model of response A",
        "model_b": "model of response B",
        "response_a": "response id of A",
        "response_b": "response id of B",
        "shown_left": "a or b: which response was shown on the left",
        "choice": "a | b | tie (identity, not position)",
        "seconds": "seconds on the item",
        "excluded": "1 if the participant is excluded",
        "exclusion_reason": "as in ratings.csv",
        "order": "position in the participant's sequence",
    },
    "responses.csv": {
        "study": "study slug",
        "response": "response id",
        "prompt": "prompt id",
        "source": "benchmark of the prompt, e.g. xstest",
        "source_id": "the benchmark's own prompt id, e.g. v2-1",
        "prompt_category": "benign | seemingly_toxic | harmful",
        "should_refuse": "1 if a model should refuse the prompt",
        "domain": "prompt domain",
        "language": "prompt language",
        "model": "foundation model",
        "refusal_label": "full_compliance | partial_refusal | full_refusal",
        "refused": "1 unless full_compliance; blank when unlabelled",
        "refusal_score": "automated refusal score",
        "labeller": "who or what set the label",
    },
    "participants.csv": {
        "study": "study slug",
        "participant": "pseudonym",
        "platform": "prolific | mturk | direct",
        "status": "active | completed | returned | timed_out",
        "consented": "1 if consent was given (decliners are only counted, never stored)",
        "completed": "1 if the session was completed",
        "consented_at": "ISO 8601 time of consent",
        "completed_at": "ISO 8601 time of completion",
        "n_items": "regular items rated",
        "attention_failures": "attention checks failed",
        "median_seconds": "median seconds per item",
        "longest_run": "longest run of identical consecutive values on one scale",
        "excluded": "1 if excluded by the pre-registered rules",
        "exclusion_reason": "as in ratings.csv",
    },
}


def codebook(study: Study) -> dict[str, Any]:
    """codebook.json: the study design, its scales and exclusion rules, and every column."""
    import platform as _platform
    from importlib.metadata import version

    from django.utils import timezone

    scales = [
        {
            "key": s.key,
            "question": s.question,
            "min": s.min_value,
            "max": s.max_value,
            "low_anchor": s.low_anchor,
            "high_anchor": s.high_anchor,
            "applies_to": s.applies_to,
        }
        for s in study.scales.order_by("order", "pk")
    ]
    return {
        "study": {
            "slug": study.slug,
            "title": study.title,
            "status": study.status,
            "ratings_per_item": study.ratings_per_item,
            "items_per_participant": study.items_per_participant,
            "attention_check_interval": study.attention_check_interval,
            "one_response_per_prompt": study.one_response_per_prompt,
            "random_seed": study.random_seed,
            "consent_declines": study.consent_declines,
        },
        "scales": scales,
        "exclusion_rules": study.exclusion_rules,
        "files": COLUMN_DESCRIPTIONS,
        "generated_at": timezone.now().isoformat(),
        "software": {
            "python": _platform.python_version(),
            **{pkg: version(pkg) for pkg in ("django", "pandas", "numpy", "scipy", "statsmodels")},
        },
    }
