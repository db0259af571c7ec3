"""The annotator's world: who takes part, what they were handed, and what they answered.

Raw crowd-platform ids never reach these tables: only a keyed hash (for resuming) and a
pseudonym (for exports) are stored.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from studies.models import Scale, Study, StudyItem


class Participant(models.Model):
    class Platform(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "MTurk"
        DIRECT = "direct", "Direct link"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        RETURNED = "returned", "Returned"
        TIMED_OUT = "timed_out", "Timed out"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    pseudonym = models.CharField(max_length=32)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.DIRECT)
    external_id_hash = models.CharField(
        max_length=64, blank=True, help_text="Keyed hash of the crowd-platform id (never the id)."
    )
    platform_meta = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    consented_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    attention_failures = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["study", "pseudonym"], name="participant_unique_pseudonym"),
            models.UniqueConstraint(
                fields=["study", "external_id_hash"],
                condition=~Q(external_id_hash=""),
                name="participant_unique_external_id",
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym


class Assignment(models.Model):
    """An item handed to a participant; it holds a slot of the item's quota while reserved."""

    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        ANSWERED = "answered", "Answered"
        EXPIRED = "expired", "Expired"
        RELEASED = "released", "Released"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="assignments")
    order = models.PositiveSmallIntegerField(help_text="Position in this participant's sequence.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    reserved_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    left_is_a = models.BooleanField(
        null=True, blank=True, help_text="Pairs: whether response A was shown on the left."
    )

    class Meta:
        ordering = ["participant", "order"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "item"], name="assignment_unique_item"),
            models.UniqueConstraint(fields=["participant", "order"], name="assignment_unique_order"),
            models.UniqueConstraint(
                fields=["participant"],
                condition=Q(status="reserved"),
                name="assignment_one_open_per_participant",
            ),
        ]
        indexes = [
            models.Index(fields=["item", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.participant} · item {self.item_id} · {self.status}"


class Rating(models.Model):
    class Choice(models.TextChoices):
        A = "a", "Response A"
        B = "b", "Response B"
        TIE = "tie", "No preference"

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="rating")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="ratings")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="ratings")
    choice = models.CharField(max_length=3, choices=Choice.choices, blank=True)
    seconds = models.FloatField(help_text="Seconds on the item, measured by the server.")
    attention_passed = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(seconds__gte=0), name="rating_seconds_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"Rating of {self.assignment}"


class RatingValue(models.Model):
    """One scale's value; the scale's bounds are copied so the database can check the range."""

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="values")
    scale = models.ForeignKey(Scale, on_delete=models.CASCADE, related_name="+")
    value = models.SmallIntegerField()
    scale_min = models.SmallIntegerField()
    scale_max = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rating", "scale"], name="ratingvalue_unique_scale"),
            models.CheckConstraint(
                condition=Q(value__gte=F("scale_min")) & Q(value__lte=F("scale_max")),
                name="ratingvalue_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scale_id}={self.value}"
