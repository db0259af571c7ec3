from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import deletion
from .models import Assignment, Participant, Rating, RatingValue


class AssignmentInline(admin.TabularInline):
    model = Assignment
    extra = 0
    fields = ["order", "item", "status", "reserved_at", "expires_at", "answered_at", "left_is_a"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["pseudonym", "study", "platform", "status", "consented_at", "completed_at", "attention_failures"]
    list_filter = ["study", "platform", "status"]
    search_fields = ["pseudonym"]
    list_select_related = ["study"]
    readonly_fields = ["external_id_hash", "created_at", "last_seen_at"]
    inlines = [AssignmentInline]

    # Deleting someone (a bot, a withdrawal) frees the slots they held; a plain cascade would
    # leave the items' taken counters counting assignments that no longer exist.
    def delete_model(self, request: HttpRequest, obj: Participant) -> None:
        deletion.participants_delete(participants=Participant.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        deletion.participants_delete(participants=queryset)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    """Assignments are handed out and recorded by the annotation services, which keep each
    item's count of taken slots with them: here they can be looked at and deleted (which gives
    the slot back), never edited."""

    list_display = ["id", "participant", "item", "order", "status", "reserved_at", "answered_at", "left_is_a"]
    list_filter = ["status", "participant__study"]
    list_select_related = ["participant", "item"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Assignment | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Assignment) -> None:
        deletion.assignments_delete(assignments=Assignment.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> None:
        deletion.assignments_delete(assignments=queryset)


class RatingValueInline(admin.TabularInline):
    model = RatingValue
    extra = 0
    fields = ["scale", "value", "scale_min", "scale_max"]
    readonly_fields = fields
    can_delete = False


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "participant", "item", "choice", "seconds", "attention_passed", "created_at"]
    list_filter = ["participant__study", "choice", "attention_passed"]
    list_select_related = ["participant", "item"]
    raw_id_fields = ["assignment", "participant", "item"]
    inlines = [RatingValueInline]
