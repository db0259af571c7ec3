"""A small study with real variation (benign and harmful prompts, three models that refuse
differently, singles and A/B pairs), rated partly through the participant API and partly by
the simulator, which goes through the same services."""

from __future__ import annotations

import random

from annotation.models import Assignment
from annotation.simulation import EFFECTS, simulate_participants
from studies.models import Pair, Response, Scale, Study, StudyItem
from tests.factories import FoundationModelFactory, PromptFactory, ResponseFactory, StudyFactory

FULL, PARTIAL, COMPLY = (
    Response.RefusalLabel.FULL_REFUSAL,
    Response.RefusalLabel.PARTIAL_REFUSAL,
    Response.RefusalLabel.FULL_COMPLIANCE,
)


def _label(model: int, prompt: int, harmful: bool) -> str:
    """Model 0 rarely refuses, model 2 over-refuses two benign prompts in three."""
    if harmful:
        return COMPLY if model == 0 and prompt % 2 else FULL
    if model == 0:
        return PARTIAL if prompt % 7 == 3 else COMPLY
    if model == 1:
        return FULL if prompt % 3 == 0 else (PARTIAL if prompt % 5 == 1 else COMPLY)
    return COMPLY if prompt % 3 == 0 else FULL


def build_report_study(
    *, prompts: int = 16, model_names: tuple[str, ...] = ("gentle-7b", "careful-13b", "strict-70b"),
    title: str = "Perception of refusals (test)", ratings_per_item: int = 3,
    items_per_participant: int = 12,
) -> Study:
    study = StudyFactory(
        title=title, ratings_per_item=ratings_per_item,
        items_per_participant=items_per_participant, attention_check_interval=6,
        # API participants answer instantly (server-measured seconds ~0): no speeding rule
        exclusion_rules={"attention_failures_max": 0, "min_median_seconds": None,
                         "straightline_run": 10, "require_complete": True},
    )
    for order, (key, low, high) in enumerate(
        (("helpfulness", "Not at all helpful", "Extremely helpful"),
         ("frustration", "Not at all frustrating", "Extremely frustrating"))
    ):
        question = f"How {'helpful' if key == 'helpfulness' else 'frustrating'} is this response?"
        Scale.objects.create(study=study, key=key, question=question, min_value=1, max_value=7,
                             order=order, low_anchor=low, high_anchor=high)
    models = [FoundationModelFactory(name=name) for name in model_names]
    for p in range(prompts):
        harmful = p % 4 == 3
        prompt = PromptFactory(study=study, should_refuse=harmful,
                               category="harmful" if harmful else "seemingly_toxic")
        responses = [
            ResponseFactory(prompt=prompt, model=m, refusal_label=_label(i, p, harmful))
            for i, m in enumerate(models)
        ]
        for r in responses:
            StudyItem.objects.create(study=study, kind="single", prompt=prompt, response=r)
        # pairs where both responses often comply, so every model wins and loses sometimes
        # (otherwise the Bradley-Terry estimate does not exist)
        a, b = (responses[i] for i in ((0, 2), (0, 1), (1, 2))[p % 3])
        pair = Pair.objects.create(prompt=prompt, response_a=a, response_b=b)
        StudyItem.objects.create(study=study, kind="pair", prompt=prompt, pair=pair)
    StudyItem.objects.create(study=study, kind="attention", attention_text="Choose 2 on every scale",
                             expected_values={"helpfulness": 2, "frustration": 2})
    return study


def _answer(assignment_id: int, body: dict, rng: random.Random, person: float) -> dict:
    item = Assignment.objects.select_related(
        "item__response", "item__pair__response_a", "item__pair__response_b"
    ).get(pk=assignment_id).item
    if item.kind == "attention":
        return {"assignment": assignment_id, "values": dict(item.expected_values)}
    if item.kind == "pair":
        a, b = item.pair.response_a, item.pair.response_b
        diff = EFFECTS[a.refusal_label][0] - EFFECTS[b.refusal_label][0] + rng.gauss(0, 1.2)
        left_is_a = Assignment.objects.get(pk=assignment_id).left_is_a
        choice = "tie" if abs(diff) < 0.3 else ("left" if (diff > 0) == bool(left_is_a) else "right")
        return {"assignment": assignment_id, "choice": choice, "values": {}}
    dh, df = EFFECTS[item.response.refusal_label]
    values = {
        "helpfulness": max(1, min(7, round(5.5 + person + dh + rng.gauss(0, 0.9)))),
        "frustration": max(1, min(7, round(2.5 - person + df + rng.gauss(0, 0.9)))),
    }
    return {"assignment": assignment_id, "values": {s["key"]: values[s["key"]]
                                                    for s in body["scales"]}}


def rate_through_api(client, study: Study, *, participants: int, seed: int = 1) -> int:
    """Participants join, claim and answer through the participant API; returns ratings."""
    rng = random.Random(seed)
    submitted = 0
    for k in range(participants):
        joined = client.post(f"/api/v1/studies/{study.slug}/participants/",
                             {"external_id": f"api-worker-{k}", "platform": "prolific",
                              "consent": True}, content_type="application/json")
        assert joined.status_code == 201, joined.content
        auth = {"HTTP_AUTHORIZATION": f"Bearer {joined.json()['token']}"}
        person = rng.gauss(0, 0.6)
        for _ in range(100):
            nxt = client.get("/api/v1/participant/next/", **auth)
            if nxt.status_code == 204:
                break
            body = nxt.json()
            answer = _answer(body["assignment"], body, rng, person)
            posted = client.post("/api/v1/participant/ratings/", answer,
                                 content_type="application/json", **auth)
            assert posted.status_code == 201, posted.content
            submitted += 1
    return submitted


def rated_study(client, **kwargs) -> Study:
    """A study with a few hundred ratings: 8 participants through the API, the rest simulated
    (two of them straight-lining, to exercise the exclusions)."""
    study = build_report_study(**kwargs)
    rate_through_api(client, study, participants=8)
    simulate_participants(study=study, n=14, seed=3, speeders=0.15)
    return study
