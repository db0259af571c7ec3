"""The columns of each tidy file, in file order.

One definition of each file's layout, shared by the row generators in ``rows`` (which yield
their tuples in this order) and the writers and frame builders in ``files`` (which head the
files and frames with these names).
"""

from __future__ import annotations

# -- responses.csv ------------------------------------------------------------------------------
RESPONSES_COLUMNS = (
    "study",
    "response",
    "prompt",
    "source",
    "source_id",
    "prompt_category",
    "should_refuse",
    "domain",
    "language",
    "model",
    "refusal_label",
    "refused",
    "refusal_score",
    "labeller",
)

# -- ratings.csv, comparisons.csv, participants.csv ---------------------------------------------
RATINGS_COLUMNS = (
    "study",
    "participant",
    "item",
    "prompt",
    "prompt_category",
    "should_refuse",
    "domain",
    "language",
    "model",
    "response",
    "refusal_label",
    "refused",
    "refusal_score",
    "refusal_style",
    "model_orr",
    "scale",
    "value",
    "seconds",
    "attention_check",
    "excluded",
    "exclusion_reason",
    # Extensions of the house plan, after its columns: position in the participant's
    # sequence, and the item kind (pair-scale rows have no single model or response).
    "order",
    "item_kind",
)
COMPARISONS_COLUMNS = (
    "study",
    "participant",
    "item",
    "prompt",
    "model_a",
    "model_b",
    "response_a",
    "response_b",
    "shown_left",
    "choice",
    "seconds",
    "excluded",
    "exclusion_reason",
    "order",
)
PARTICIPANTS_COLUMNS = (
    "study",
    "participant",
    "platform",
    "status",
    "consented",
    "completed",
    "consented_at",
    "completed_at",
    "n_items",
    "attention_failures",
    "median_seconds",
    "longest_run",
    "excluded",
    "exclusion_reason",
)
