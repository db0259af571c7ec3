"""Crowd-platform entry parameters: which platform sent the person, and under which id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class CrowdIdentity:
    platform: str
    external_id: str = ""
    meta: dict[str, str] = field(default_factory=dict)


def crowd_identity(params: Mapping[str, str]) -> CrowdIdentity:
    """Read Prolific (PROLIFIC_PID, STUDY_ID, SESSION_ID) or MTurk (workerId, assignmentId,
    hitId) parameters; anything else is a direct-link visit. Only non-identifying metadata is
    kept in ``meta``: the worker id itself is hashed by the caller and then dropped."""

    def get(name: str) -> str:
        return (params.get(name) or "").strip()[:MAX_ID_LENGTH]

    if get("PROLIFIC_PID"):
        meta = {"study_id": get("STUDY_ID"), "session_id": get("SESSION_ID")}
        return CrowdIdentity("prolific", get("PROLIFIC_PID"), {k: v for k, v in meta.items() if v})
    worker = get("workerId")
    if worker and get("assignmentId") != "ASSIGNMENT_ID_NOT_AVAILABLE":
        meta = {"assignment_id": get("assignmentId"), "hit_id": get("hitId")}
        return CrowdIdentity("mturk", worker, {k: v for k, v in meta.items() if v})
    return CrowdIdentity("direct")
