"""Input and output serializers of the researcher API (studies/apis.py).

Inputs only parse and type-check; the services validate against the model (``full_clean``)
and write. Outputs name exactly what a researcher may see: a participant is a pseudonym with
counts, never the hash of a crowd-platform id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation.models import Participant

from .importers import ON_DUPLICATE
from .models import Prompt, Response, Scale, Study, StudyItem


def _valid_unicode(value: str) -> None:
    """A lone surrogate passes JSON parsing but no database can store it (500 → 400)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise serializers.ValidationError("Text must be valid Unicode.") from exc


class TextCharField(serializers.CharField):
    """A CharField that refuses text no database column can store (NUL is refused by DRF)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(_valid_unicode)


@extend_schema_field(
    {"anyOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}]}
)
class OptionalURLField(serializers.URLField):
    """A URL or "" (the model's blank=True): the schema says so, where a plain URLField's
    ``format: uri`` would call every study without a completion URL invalid."""


class OutputModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping: ClassVar = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.URLField: OptionalURLField,
    }


class InputModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping: ClassVar = {
        **serializers.ModelSerializer.serializer_field_mapping,
        **{
            field: TextCharField
            for field, drf_field in serializers.ModelSerializer.serializer_field_mapping.items()
            if drf_field is serializers.CharField
        },
        models.URLField: OptionalURLField,
    }


# -- errors (for the schema) ------------------------------------------------------------------
class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class BadElementSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the element in the uploaded array.")
    reason = serializers.CharField()


class UploadFailedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = BadElementSerializer(many=True)


# -- studies -----------------------------------------------------------------------------------
_EXCLUSION_RULES_SCHEMA = {
    "type": "object",
    "description": (
        "Pre-registered exclusions (analysis.exclusions.ExclusionRules); missing keys take "
        "their defaults, unknown keys are refused, and the full rule set is stored."
    ),
    "properties": {
        "attention_failures_max": {"type": "integer", "minimum": 0, "nullable": True},
        "min_median_seconds": {"type": "number", "minimum": 0, "nullable": True},
        "straightline_run": {"type": "integer", "minimum": 2, "nullable": True},
        "require_complete": {"type": "boolean"},
    },
    "additionalProperties": False,
}


@extend_schema_field(_EXCLUSION_RULES_SCHEMA)
class ExclusionRulesField(serializers.JSONField):
    """Any JSON here; the service checks it with ``ExclusionRules.from_dict``."""


_DESIGN_FIELDS = (
    "title",
    "description",
    "status",
    "consent_md",
    "instructions_md",
    "ratings_per_item",
    "items_per_participant",
    "attention_check_interval",
    "one_response_per_prompt",
    "lease_minutes",
    "completion_code",
    "completion_url",
    "recruitment_url",
    "random_seed",
    "exclusion_rules",
)
# The database's check constraints, stated here too so that the schema shows them.
_DESIGN_LIMITS = {
    "ratings_per_item": {"min_value": 1},
    "items_per_participant": {"min_value": 1},
    "lease_minutes": {"min_value": 1},
    # numpy's generators (analysis) take no negative seed
    "random_seed": {"min_value": 0, "max_value": 2**63 - 1},
}


class StudyCreateInputSerializer(InputModelSerializer):
    exclusion_rules = ExclusionRulesField(required=False)

    class Meta:
        model = Study
        fields = ("slug", *_DESIGN_FIELDS)
        extra_kwargs: ClassVar = _DESIGN_LIMITS


class StudyUpdateInputSerializer(InputModelSerializer):
    """Every field optional (PATCH). The slug cannot change: it is in recruitment links that
    are already out on the crowd platform, and in every exported file."""

    exclusion_rules = ExclusionRulesField(required=False)

    class Meta:
        model = Study
        fields = _DESIGN_FIELDS
        extra_kwargs: ClassVar = {
            name: {**limits, "required": False} for name, limits in _DESIGN_LIMITS.items()
        }


class ScaleOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Scale
        fields = (
            "id",
            "key",
            "question",
            "min_value",
            "max_value",
            "low_anchor",
            "high_anchor",
            "applies_to",
            "order",
        )


class StudyOutputSerializer(OutputModelSerializer):
    exclusion_rules = ExclusionRulesField(read_only=True)
    n_items = serializers.IntegerField(read_only=True, help_text="Regular (non-attention) items.")
    ratings_collected = serializers.IntegerField(read_only=True)
    ratings_wanted = serializers.IntegerField(
        read_only=True, help_text="Regular items × ratings per item."
    )

    class Meta:
        model = Study
        fields = (
            "slug",
            *_DESIGN_FIELDS,
            "consent_declines",
            "created_at",
            "updated_at",
            "n_items",
            "ratings_collected",
            "ratings_wanted",
        )
        read_only_fields = fields


class StudyDetailOutputSerializer(StudyOutputSerializer):
    scales = ScaleOutputSerializer(many=True, read_only=True)

    class Meta(StudyOutputSerializer.Meta):
        fields = (*StudyOutputSerializer.Meta.fields, "scales")
        read_only_fields = fields


class StudyFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Study.Status.choices, required=False)


# -- scales ------------------------------------------------------------------------------------
class ScaleCreateInputSerializer(InputModelSerializer):
    class Meta:
        model = Scale
        # The key's uniqueness within the study is the service's check (full_clean).
        fields = tuple(f for f in ScaleOutputSerializer.Meta.fields if f != "id")


# -- prompts and responses -----------------------------------------------------------------------
_ID = {"min_value": 1, "max_value": 2**63 - 1}


class PromptOutputSerializer(serializers.ModelSerializer):
    n_responses = serializers.IntegerField(read_only=True)

    class Meta:
        model = Prompt
        fields = (
            "id",
            "text",
            "category",
            "should_refuse",
            "prompt_type",
            "domain",
            "language",
            "source",
            "source_id",
            "created_at",
            "n_responses",
        )
        read_only_fields = fields


class PromptFilterSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=Prompt.Category.choices, required=False)
    should_refuse = serializers.BooleanField(required=False, allow_null=True, default=None)
    source = TextCharField(required=False, max_length=80)
    source_id = TextCharField(required=False, max_length=120)
    language = TextCharField(required=False, max_length=16)
    domain = TextCharField(required=False, max_length=80)
    search = TextCharField(required=False, max_length=200, help_text="Text contains (any case).")


class ResponseOutputSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    # Declared so that the schema lets them be "" (unlabelled): DRF drops allow_blank from
    # read-only model fields, and the schema would then allow only the choices.
    refusal_label = serializers.ChoiceField(
        choices=Response.RefusalLabel.choices, allow_blank=True, read_only=True
    )
    refusal_style = serializers.ChoiceField(
        choices=Response.RefusalStyle.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Response
        fields = (
            "id",
            "prompt",
            "model",
            "condition",
            "text",
            "refusal_label",
            "refusal_score",
            "refusal_style",
            "labeller",
            "created_at",
        )
        read_only_fields = fields


class ResponseFilterSerializer(serializers.Serializer):
    prompt = serializers.IntegerField(required=False, **_ID)
    model = TextCharField(required=False, max_length=120, help_text="Foundation model name.")
    condition = TextCharField(required=False, allow_blank=True, max_length=80)
    refusal_label = serializers.ChoiceField(
        choices=Response.RefusalLabel.choices,
        required=False,
        allow_blank=True,
        help_text="Empty selects the unlabelled responses.",
    )
    labeller = TextCharField(required=False, allow_blank=True, max_length=80)
    category = serializers.ChoiceField(choices=Prompt.Category.choices, required=False)
    should_refuse = serializers.BooleanField(required=False, allow_null=True, default=None)


class UploadElementSerializer(serializers.Serializer):
    """One element of a bulk upload: the columns of the generic importer
    (studies.importers.generic). Documentation only: the importer checks the elements, so that
    every bad one is reported by index."""

    prompt = serializers.CharField()
    response = serializers.CharField(required=False, help_text="Absent for a prompt-only row.")
    model = serializers.CharField(required=False, help_text="Required with a response.")
    category = serializers.ChoiceField(choices=Prompt.Category.choices, required=False)
    should_refuse = serializers.BooleanField(
        required=False, help_text="Give it, category, or both (harmful ⇔ true)."
    )
    domain = serializers.CharField(required=False)
    language = serializers.CharField(required=False, help_text="Default en.")
    source_id = serializers.CharField(
        required=False, help_text="Benchmark id; derived from the text when absent."
    )
    source = serializers.CharField(required=False, help_text="Benchmark name; default jsonl.")
    prompt_type = serializers.CharField(required=False)
    condition = serializers.CharField(required=False)
    refusal_label = serializers.ChoiceField(choices=Response.RefusalLabel.choices, required=False)
    refusal_style = serializers.ChoiceField(choices=Response.RefusalStyle.choices, required=False)
    labeller = serializers.CharField(required=False)


class UploadQuerySerializer(serializers.Serializer):
    on_duplicate = serializers.ChoiceField(
        choices=ON_DUPLICATE,
        default="skip",
        help_text="A prompt or response already in the study: leave it (skip) or overwrite it.",
    )


class UploadResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    models_created = serializers.IntegerField()
    prompts_created = serializers.IntegerField()
    prompts_updated = serializers.IntegerField()
    prompts_unchanged = serializers.IntegerField()
    responses_created = serializers.IntegerField()
    responses_updated = serializers.IntegerField()
    responses_unchanged = serializers.IntegerField()


# -- items -------------------------------------------------------------------------------------
class ItemOutputSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField(help_text="Single items: the response's model.")
    pair = serializers.SerializerMethodField()
    n_ratings = serializers.IntegerField(read_only=True)

    class Meta:
        model = StudyItem
        fields = (
            "id",
            "kind",
            "prompt",
            "response",
            "model",
            "pair",
            "attention_text",
            "expected_values",
            "n_ratings",
        )
        read_only_fields = fields

    def get_model(self, item: StudyItem) -> str | None:
        return item.response.model.name if item.response_id else None

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "id": {"type": "integer"},
                "response_a": {"type": "integer"},
                "response_b": {"type": "integer"},
                "model_a": {"type": "string"},
                "model_b": {"type": "string"},
            },
        }
    )
    def get_pair(self, item: StudyItem) -> dict[str, Any] | None:
        if not item.pair_id:
            return None
        pair = item.pair
        return {
            "id": pair.pk,
            "response_a": pair.response_a_id,
            "response_b": pair.response_b_id,
            "model_a": pair.response_a.model.name,
            "model_b": pair.response_b.model.name,
        }


class ItemFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StudyItem.Kind.choices, required=False)
    prompt = serializers.IntegerField(required=False, **_ID)


class ItemsBuildInputSerializer(serializers.Serializer):
    singles = serializers.BooleanField(default=True)
    pairs = serializers.BooleanField(default=True)
    max_pairs_per_prompt = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=1000
    )


class ItemsBuildOutputSerializer(serializers.Serializer):
    singles = serializers.IntegerField(help_text="Single-response items added.")
    pairs = serializers.IntegerField(help_text="A/B pairs (and their items) added.")


# -- participants --------------------------------------------------------------------------------
class ParticipantOutputSerializer(serializers.ModelSerializer):
    n_rated = serializers.IntegerField(read_only=True, help_text="Regular items rated.")
    n_attention_checks = serializers.IntegerField(
        read_only=True, help_text="Attention checks answered."
    )

    class Meta:
        model = Participant
        # Deliberately not external_id_hash nor platform_meta: the API is pseudonymous.
        fields = (
            "pseudonym",
            "platform",
            "status",
            "created_at",
            "consented_at",
            "last_seen_at",
            "completed_at",
            "attention_failures",
            "n_rated",
            "n_attention_checks",
        )
        read_only_fields = fields


class ParticipantFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Participant.Status.choices, required=False)
    platform = serializers.ChoiceField(choices=Participant.Platform.choices, required=False)


# -- report --------------------------------------------------------------------------------------
class ReportQuerySerializer(serializers.Serializer):
    """Options of the analysis, as the ``analyze`` command takes them."""

    formula = serializers.ListField(
        child=TextCharField(max_length=500),
        required=False,
        max_length=20,
        help_text="lme4 formula, repeatable; default: the standard models.",
    )
    method = serializers.ChoiceField(choices=["REML", "ML"], required=False)
    include_excluded = serializers.BooleanField(required=False, allow_null=True, default=None)
    seed = serializers.IntegerField(
        required=False, min_value=0, max_value=2**32 - 1, help_text="Default: the study's seed."
    )
    n_boot = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000, help_text="Bootstrap resamples."
    )

    def options(self) -> dict[str, Any]:
        """The given options under the names analysis takes."""
        data = dict(self.validated_data)
        if "formula" in data:
            data["formulas"] = data.pop("formula")
        return {name: value for name, value in data.items() if value is not None}
