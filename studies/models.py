"""The researcher's world: a study, its scales, the stimuli and the items shown to annotators.

Invariants that the annotation service and analysis rely on are enforced by the database
(unique and check constraints), not only by forms, so imports, the API and the admin cannot
drift apart.
"""

from __future__ import annotations

import random

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RECRUITING = "recruiting", "Recruiting"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Internal notes for researchers.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    consent_md = models.TextField(
        "consent text (markdown)",
        blank=True,
        help_text="Shown before anything else; include a content warning when prompts are unsafe.",
    )
    instructions_md = models.TextField("instructions (markdown)", blank=True)
    ratings_per_item = models.PositiveSmallIntegerField(
        default=3, help_text="Overlap: how many participants rate each item."
    )
    items_per_participant = models.PositiveSmallIntegerField(
        default=20, help_text="Regular items one participant rates (attention checks come on top)."
    )
    attention_check_interval = models.PositiveSmallIntegerField(
        default=0, help_text="Insert an attention check after every N items (0 = none)."
    )
    one_response_per_prompt = models.BooleanField(
        default=True,
        help_text="Never show a participant two responses to the same prompt (avoids carry-over).",
    )
    lease_minutes = models.PositiveSmallIntegerField(
        default=30, help_text="How long a handed-out item stays reserved for a participant."
    )
    completion_code = models.CharField(max_length=64, blank=True)
    completion_url = models.URLField(
        blank=True, help_text="Where finished participants are redirected (e.g. Prolific)."
    )
    recruitment_url = models.URLField(blank=True, help_text="The study's page on the crowd platform.")
    random_seed = models.PositiveBigIntegerField(default=20261204)
    exclusion_rules = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'Pre-registered exclusions, e.g. {"attention_failures_max": 0, '
            '"min_median_seconds": 3, "straightline_run": 10, "require_complete": true}.'
        ),
    )
    consent_declines = models.PositiveIntegerField(
        default=0, editable=False, help_text="People who declined consent (nothing else is kept)."
    )
    # When a claim last swept lapsed reservations back into the pool: claims sweep at most
    # every few seconds instead of each running the search (see annotation.services).
    reclaimed_at = models.DateTimeField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ratings_per_item__gte=1), name="study_ratings_per_item_positive"
            ),
            models.CheckConstraint(
                condition=Q(items_per_participant__gte=1),
                name="study_items_per_participant_positive",
            ),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="study_lease_positive"),
            # numpy's generators refuse negative seeds; the analysis uses this one.
            models.CheckConstraint(condition=Q(random_seed__gte=0), name="study_seed_nonnegative"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.RECRUITING


class Scale(models.Model):
    class AppliesTo(models.TextChoices):
        SINGLE = "single", "Single responses"
        PAIR = "pair", "A/B pairs"
        BOTH = "both", "Both"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="scales")
    key = models.SlugField(max_length=40, help_text="Column name in ratings.csv and formulas.")
    question = models.CharField(max_length=300)
    min_value = models.SmallIntegerField(default=1)
    max_value = models.SmallIntegerField(default=7)
    low_anchor = models.CharField(max_length=80, blank=True)
    high_anchor = models.CharField(max_length=80, blank=True)
    applies_to = models.CharField(max_length=6, choices=AppliesTo.choices, default=AppliesTo.SINGLE)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="scale_unique_key_per_study"),
            models.CheckConstraint(condition=Q(min_value__lt=F("max_value")), name="scale_min_lt_max"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.min_value}–{self.max_value})"


DEFAULT_SCALES: tuple[dict, ...] = (
    {
        "key": "helpfulness",
        "question": "How helpful is this response?",
        "min_value": 1,
        "max_value": 7,
        "low_anchor": "Not at all helpful",
        "high_anchor": "Extremely helpful",
        "order": 0,
    },
    {
        "key": "frustration",
        "question": "How frustrating is this response?",
        "min_value": 1,
        "max_value": 7,
        "low_anchor": "Not at all frustrating",
        "high_anchor": "Extremely frustrating",
        "order": 1,
    },
)


class FoundationModel(models.Model):
    name = models.CharField(max_length=120, unique=True)
    provider = models.CharField(max_length=120, blank=True)
    version = models.CharField(max_length=120, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "foundation model"

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    class Category(models.TextChoices):
        BENIGN = "benign", "Benign"
        SEEMINGLY_TOXIC = "seemingly_toxic", "Seemingly toxic (benign)"
        HARMFUL = "harmful", "Harmful"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    text = models.TextField()
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.BENIGN)
    should_refuse = models.BooleanField(default=False)
    prompt_type = models.CharField(
        max_length=80, blank=True, help_text="The benchmark's own type, e.g. XSTest 'homonyms'."
    )
    domain = models.CharField(max_length=80, blank=True)
    language = models.CharField(max_length=16, default="en")
    source = models.CharField(max_length=80, blank=True, help_text="Benchmark, e.g. xstest.")
    source_id = models.CharField(max_length=120, blank=True)
    image = models.FileField(upload_to="prompts/images/", blank=True)
    audio = models.FileField(upload_to="prompts/audio/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "source", "source_id"],
                condition=~Q(source_id=""),
                name="prompt_unique_source_id_per_study",
            ),
        ]
        indexes = [
            models.Index(fields=["study", "category"]),
            # Importers look prompts up by source id; SQLite cannot use the partial unique
            # index above for that.
            models.Index(fields=["study", "source", "source_id"], name="prompt_source_lookup"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Response(models.Model):
    class RefusalLabel(models.TextChoices):
        FULL_COMPLIANCE = "full_compliance", "Full compliance"
        PARTIAL_REFUSAL = "partial_refusal", "Partial refusal"
        FULL_REFUSAL = "full_refusal", "Full refusal"

    class RefusalStyle(models.TextChoices):
        NONE = "none", "None (complies)"
        DIRECT = "direct", "Direct refusal"
        EXPLANATION = "explanation", "Explanation-based refusal"
        REDIRECTION = "redirection", "Redirection"
        PARTIAL_COMPLIANCE = "partial_compliance", "Partial compliance"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    model = models.ForeignKey(FoundationModel, on_delete=models.PROTECT, related_name="responses")
    condition = models.CharField(
        max_length=80, blank=True, help_text="Variant of the same model, e.g. a system prompt."
    )
    text = models.TextField(help_text="Untrusted model output; always rendered inert.")
    refusal_label = models.CharField(max_length=20, choices=RefusalLabel.choices, blank=True)
    refusal_score = models.FloatField(null=True, blank=True)
    labeller = models.CharField(max_length=80, blank=True, help_text="Who or what set the label.")
    refusal_style = models.CharField(max_length=20, choices=RefusalStyle.choices, blank=True)
    collection = models.JSONField(
        default=dict, blank=True, help_text="Latency, finish reason, token usage, endpoint …"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "model", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "model", "condition"], name="response_unique_per_prompt_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} → {self.prompt}"

    @property
    def refused(self) -> bool | None:
        if not self.refusal_label:
            return None
        return self.refusal_label != self.RefusalLabel.FULL_COMPLIANCE


class Pair(models.Model):
    """Two responses to the same prompt, compared A/B; A and B are identities, not positions."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["prompt", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(response_a=F("response_b")), name="pair_distinct_responses"
            ),
            models.UniqueConstraint(fields=["response_a", "response_b"], name="pair_unique"),
        ]

    def __str__(self) -> str:
        return f"Pair {self.pk}: {self.response_a.model} vs {self.response_b.model}"

    def clean(self) -> None:
        for response in (self.response_a, self.response_b):
            if response.prompt_id != self.prompt_id:
                raise ValidationError("Both responses of a pair must answer the pair's prompt.")


def shuffle_key_draw(rng: random.Random | None = None) -> int:
    return (rng or random).getrandbits(31)


class StudyItem(models.Model):
    """One unit of work: a single response, an A/B pair, or an attention check."""

    class Kind(models.TextChoices):
        SINGLE = "single", "Single response"
        PAIR = "pair", "A/B pair"
        ATTENTION = "attention", "Attention check"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    prompt = models.ForeignKey(
        Prompt, on_delete=models.CASCADE, null=True, blank=True, related_name="items"
    )
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, null=True, blank=True, related_name="items"
    )
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, null=True, blank=True, related_name="items")
    attention_text = models.TextField(
        blank=True, help_text="Attention checks: the text shown in place of a model response."
    )
    expected_values = models.JSONField(
        default=dict, blank=True, help_text='Attention checks: expected answers, e.g. {"helpfulness": 2}.'
    )
    # Answered plus reserved assignments, and a random key redrawn each time the item is handed
    # out. Only annotation.services changes them, always under the study's row lock. A claim
    # takes the candidate with the fewest slots taken and, among those, the lowest key: one
    # index lookup instead of counting every item's assignments, and since the keys are
    # independent draws, each tied candidate is equally likely to come first.
    taken = models.PositiveIntegerField("slots taken", default=0, editable=False)
    shuffle_key = models.PositiveIntegerField(default=shuffle_key_draw, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="single", response__isnull=False, pair__isnull=True)
                    | Q(kind="pair", pair__isnull=False, response__isnull=True)
                    | Q(kind="attention", pair__isnull=True, response__isnull=True)
                ),
                name="studyitem_kind_matches_content",
            ),
            models.UniqueConstraint(
                fields=["study", "response"],
                condition=Q(kind="single"),
                name="studyitem_unique_single",
            ),
            models.UniqueConstraint(
                fields=["study", "pair"], condition=Q(kind="pair"), name="studyitem_unique_pair"
            ),
        ]
        indexes = [
            models.Index(fields=["study", "kind"]),
            models.Index(fields=["study", "taken", "shuffle_key"], name="studyitem_next_candidate"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_attention_check(self) -> bool:
        return self.kind == self.Kind.ATTENTION
