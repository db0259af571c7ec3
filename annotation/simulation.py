"""Synthetic participants for piloting a study's pipeline end to end.

They go through the same services as real people (entry, claim, submit), so quotas, balance
and exclusions behave as in the field. Ratings follow a small crossed model whose refusal
effects are Zheng et al. (2025)'s published coefficients (helpfulness −3.68 / frustration +2.85
for a direct refusal, about half for partial compliance), plus participant and prompt
intercepts and noise, rounded onto each scale. Simulated participants are marked in
``platform_meta`` so an analysis can leave them out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from studies.models import Response, Study, StudyItem

from .errors import StudyFull
from .models import Participant
from .services import assignment_claim_next, participant_enter, rating_submit, scales_for

EFFECTS = {  # (helpfulness, frustration) shift against full compliance
    Response.RefusalLabel.FULL_COMPLIANCE: (0.0, 0.0),
    Response.RefusalLabel.PARTIAL_REFUSAL: (-1.42, 1.11),
    Response.RefusalLabel.FULL_REFUSAL: (-3.68, 2.85),
}


@dataclass(frozen=True)
class SimulationResult:
    participants: int
    ratings: int


def _value(rng: random.Random, scale_key: str, base: float, shift: float, lo: int, hi: int) -> int:
    raw = base + shift + rng.gauss(0, 0.9)
    return max(lo, min(hi, round(raw)))


def simulate_participants(*, study: Study, n: int, seed: int = 0, speeders: float = 0.0) -> SimulationResult:
    """Run ``n`` synthetic participants through ``study``; ``speeders`` is the share that
    straight-line (to exercise the exclusions)."""
    rng = random.Random(seed)
    prompt_effect: dict[int, float] = {}
    ratings = entered = 0
    for _ in range(n):
        try:
            participant, _ = participant_enter(
                study=study, platform=Participant.Platform.DIRECT, consent=True, meta={"simulated": "1"}
            )
        except StudyFull:
            break  # every item has its ratings: later participants would be turned away too
        entered += 1
        person = rng.gauss(0, 0.7)
        speeder = rng.random() < speeders
        for _step in range(10_000):
            claim = assignment_claim_next(participant=participant)
            if claim.done:
                break
            assignment = claim.assignment
            item = (
                StudyItem.objects.select_related("response", "pair__response_a", "pair__response_b")
                .get(pk=assignment.item_id)
            )
            scales = scales_for(study_id=study.pk, kind=item.kind)
            values: dict[str, int] = {}
            choice = None
            if item.kind == StudyItem.Kind.ATTENTION:
                values = {s.key: int(item.expected_values.get(s.key, s.min_value)) for s in scales}
            else:
                label = (item.response or item.pair.response_a).refusal_label or Response.RefusalLabel.FULL_COMPLIANCE
                prompt = prompt_effect.setdefault(item.prompt_id or 0, rng.gauss(0, 0.5))
                for s in scales:
                    mid = (s.min_value + s.max_value) / 2
                    dh, df = EFFECTS.get(label, (0.0, 0.0))
                    if s.key == "frustration":
                        base, shift = mid - 1.5 - person, df
                    else:
                        base, shift = mid + 1.5 + person + prompt, dh
                    values[s.key] = s.min_value if speeder else _value(rng, s.key, base, shift, s.min_value, s.max_value)
                if item.kind == StudyItem.Kind.PAIR:
                    a, b = item.pair.response_a, item.pair.response_b
                    score = EFFECTS.get(a.refusal_label, (0, 0))[0] - EFFECTS.get(b.refusal_label, (0, 0))[0]
                    diff = score + rng.gauss(0, 1.2)
                    picked_a = diff > 0
                    if abs(diff) < 0.3:
                        choice = "tie"
                    else:
                        choice = "left" if picked_a == bool(assignment.left_is_a) else "right"
            # Reading time: log-normal around 12 s; speeders click through in about a second.
            seconds = rng.uniform(0.5, 1.5) if speeder else rng.lognormvariate(2.5, 0.5)
            rating_submit(
                participant=participant,
                assignment_id=assignment.pk,
                values=values,
                choice=choice,
                now=assignment.reserved_at + timedelta(seconds=seconds),
            )
            ratings += 1
    return SimulationResult(participants=entered, ratings=ratings)


__all__ = ["SimulationResult", "simulate_participants"]
