"""The participant flow of a study, the counts behind its CONSORT-style diagram.

Apart from the files because it adds what no file holds: the consent declines, which are only
counted, and the people who finished without rating anything.
"""

from __future__ import annotations

from typing import Any

from studies.models import Study

from .rows import participant_verdicts


def study_flow(study: Study) -> dict[str, Any]:
    """The participant flow of ``study`` (entered → consented → completed → excluded →
    analysed); people who declined consent are counted, never stored."""
    from ..exclusions import ExclusionRules, participant_flow

    rules = ExclusionRules.from_dict(study.exclusion_rules)
    verdicts = participant_verdicts(study, rules)
    table = verdicts.set_index("participant")
    flow = participant_flow(table, rules) if len(table) else {
        "entered": 0, "consented": 0, "not_consented": 0, "completed": 0, "excluded": 0,
        "excluded_by_reason": {}, "excluded_first_reason": {}, "analysed": 0, "rules": rules.to_dict(),
    }
    flow["entered"] += study.consent_declines
    flow["not_consented"] += study.consent_declines
    # People who finished without rating anything (every item was at quota when they came)
    # break no rule, but they are not in any model: count them apart from the analysed.
    from annotation.models import Rating

    rated = set(
        Rating.objects.filter(item__study=study)
        .exclude(item__kind="attention")
        .values_list("participant_id", flat=True)
        .distinct()
    )
    if "analysed" in verdicts:
        idle = int((verdicts["analysed"].fillna(False).astype(bool) & ~verdicts.index.isin(rated)).sum())
    else:
        idle = 0
    flow["no_ratings"] = idle
    flow["analysed"] -= idle
    return flow
