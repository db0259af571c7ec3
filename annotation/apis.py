"""Participant API: how external survey tools embed a study and how load tests drive it.

Separate from the researcher API: its only credential is a signed participant token, which
maps to no Django user, so nothing behind ``IsAdminUser`` can ever accept it.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.models import Study

from . import errors, selectors, services, sql
from .identity import external_id_hash, participant_id_from_token, participant_token
from .models import Participant


class ParticipantPrincipal:
    """Stands in for request.user: authenticated as a participant, never as staff."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, participant: Participant) -> None:
        self.participant = participant


class ParticipantTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        participant_id = participant_id_from_token(parts[1].decode("latin-1"))
        if participant_id is None:
            raise AuthenticationFailed("Invalid participant token.")
        # Runs on every participant request: one short statement (id, study, status); the
        # services read what else they need under their locks.
        participant = sql.participant_brief(participant_id)
        if participant is None:
            raise AuthenticationFailed("Invalid participant token.")
        return ParticipantPrincipal(participant), None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="participant"'


class IsParticipant(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.user, ParticipantPrincipal)


def _error(exc: errors.AnnotationError) -> Response:
    return Response({"detail": exc.message, "code": exc.code}, status=exc.status)


class ParticipantCreateApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    renderer_classes = [JSONRenderer]  # participants and survey tools, not people browsing an API

    class InputSerializer(serializers.Serializer):
        external_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
        platform = serializers.ChoiceField(choices=Participant.Platform.values, default="direct")
        consent = serializers.BooleanField()

    class OutputSerializer(serializers.Serializer):
        participant = serializers.CharField()
        token = serializers.CharField()
        status = serializers.CharField()

    def post(self, request: Request, slug: str) -> Response:
        study = get_object_or_404(Study, slug=slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        external_id = data.validated_data["external_id"].strip()
        id_hash = external_id_hash(study_id=study.pk, external_id=external_id) if external_id else ""
        if not data.validated_data["consent"] and not services.participant_find(study=study, id_hash=id_hash):
            services.consent_decline(study=study)
        try:
            participant, created = services.participant_enter(
                study=study,
                platform=data.validated_data["platform"],
                id_hash=id_hash,
                consent=data.validated_data["consent"],
            )
        except errors.AnnotationError as exc:
            return _error(exc)
        body = {
            "participant": participant.pseudonym,
            "token": participant_token(participant_id=participant.pk),
            "status": participant.status,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ParticipantApi(APIView):
    authentication_classes = [ParticipantTokenAuthentication]
    permission_classes = [IsParticipant]
    renderer_classes = [JSONRenderer]

    @property
    def participant(self) -> Participant:
        return self.request.user.participant


class NextItemApi(ParticipantApi):
    def get(self, request: Request) -> Response:
        participant = self.participant
        try:
            claim = services.assignment_claim_next(participant=participant)
        except errors.AnnotationError as exc:
            return _error(exc)
        study = claim.study
        if claim.done:
            code = study.completion_code if participant.status == Participant.Status.COMPLETED else ""
            return Response(
                status=status.HTTP_204_NO_CONTENT,
                headers={"X-Completion-Code": code, "X-Participant-Status": participant.status},
            )
        view = selectors.task_view(assignment=claim.assignment, answered_regular=claim.answered_regular, study=study)
        return Response(
            {
                "assignment": view.assignment_id,
                "kind": "pair" if view.kind == "pair" else "single",
                "attention_check": view.is_attention,
                "prompt": {"text": view.prompt_text, **view.prompt_media},
                "responses": [{"slot": r.slot, "text": r.text} for r in view.responses],
                "scales": [
                    {
                        "key": s.key,
                        "question": s.question,
                        "min": s.min_value,
                        "max": s.max_value,
                        "low_anchor": s.low_anchor,
                        "high_anchor": s.high_anchor,
                    }
                    for s in view.scales
                ],
                "progress": {"position": view.position, "total": view.total},
            }
        )


class RatingSubmitApi(ParticipantApi):
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            return Response({"detail": "Send a JSON object."}, status=status.HTTP_400_BAD_REQUEST)
        try:
            result = services.rating_submit(
                participant=self.participant,
                assignment_id=request.data.get("assignment"),
                values=request.data.get("values"),
                choice=request.data.get("choice"),
            )
        except errors.AnnotationError as exc:
            return _error(exc)
        body = {
            "rating": result.rating.pk,
            "assignment": result.rating.assignment_id,
            "seconds": round(result.rating.seconds, 3),
            "completed": result.completed,
        }
        if result.completed:
            body["completion_code"] = self.participant.study.completion_code
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ReturnApi(ParticipantApi):
    def post(self, request: Request) -> Response:
        services.participant_return(participant=self.participant)
        return Response({"status": self.participant.status})
