"""Refusals of the annotation services, each with the HTTP status the API answers with."""

from __future__ import annotations


class AnnotationError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSubmission(AnnotationError):
    status = 400
    code = "invalid"


class NotYourAssignment(AnnotationError):
    status = 403
    code = "forbidden"


class AssignmentNotFound(AnnotationError):
    status = 404
    code = "not_found"


class ConflictingAnswer(AnnotationError):
    status = 409
    code = "conflict"


class StudyNotOpen(AnnotationError):
    status = 409
    code = "study_not_open"


class StudyFull(AnnotationError):
    status = 409
    code = "study_full"


class ParticipantInactive(AnnotationError):
    status = 409
    code = "participant_inactive"


class ConsentRequired(AnnotationError):
    status = 400
    code = "consent_required"
