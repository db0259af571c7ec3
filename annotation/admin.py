from __future__ import annotations

from django.contrib import admin

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


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "participant", "item", "order", "status", "reserved_at", "answered_at", "left_is_a"]
    list_filter = ["status", "participant__study"]
    list_select_related = ["participant", "item"]
    raw_id_fields = ["participant", "item"]


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
