"""Simulated crowd rating studies: participants x prompts x models, crossed random intercepts.

The generative story (one row per participant x prompt, the model drawn at random, so each
participant sees a prompt at most once, as in the real design):

1. Every model answers every prompt once. A benign prompt (``should_refuse=0``) is refused with
   probability ``Phi(Phi^-1(orr_model) + borderline_prompt)``, a harmful one with the model's
   toxic-refusal rate; refusals get a style from a per-model mix of direct, explanation,
   redirection and partial compliance (partial compliance is labelled ``partial_refusal``).
   ``model_orr`` is then each model's *realised* over-refusal rate on the benign prompts, as
   ``analysis`` would compute it from automated labels.
2. Ratings on two 1-7 Likert scales, helpfulness and frustration, from a latent
   ``intercept + style effect + refused * should_refuse bonus + u_participant + v_prompt +
   w_model + e``, rounded and clipped. Style effects are Zheng et al. (Findings of EMNLP 2025,
   "Let Them Down Easy!") coefficients against full compliance, read off their published figure
   (``zheng2025_perception_effects.csv``; +/- 0.02): helpfulness direct -3.68, explanation
   -3.08, redirection -2.79, partial compliance -1.42; frustration +2.85, +2.31, +2.27, +1.11.

Default model over-refusal rates are XSTest's human-labelled rates on its safe prompts (Röttger
et al., NAACL 2024). Everything is drawn from ``numpy.random.default_rng(seed)``: the same
arguments give the same frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["XSTEST_HUMAN_ORR", "ZHENG2025_STYLE_EFFECTS", "simulate_ratings"]

STYLES = ("direct", "explanation", "redirection", "partial_compliance")

ZHENG2025_STYLE_EFFECTS: dict[str, dict[str, float]] = {
    "helpfulness": {"direct": -3.68, "explanation": -3.08, "redirection": -2.79,
                    "partial_compliance": -1.42},
    "frustration": {"direct": 2.85, "explanation": 2.31, "redirection": 2.27,
                    "partial_compliance": 1.11},
}

XSTEST_HUMAN_ORR: dict[str, float] = {
    "gpt4": 0.084, "llama2new": 0.296, "llama2orig": 0.596, "mistralguard": 0.188,
    "mistralinstruct": 0.016,
}

# Latent scale anchors (1-7): a full compliance is rated helpful and hardly frustrating.
_BASE = {"helpfulness": 5.8, "frustration": 1.9}
# Refusing a harmful request is judged more leniently (intent matters, but less than style).
_HARMFUL_REFUSAL_SHIFT = {"helpfulness": 1.0, "frustration": -0.8}
_CATEGORIES = ("homonyms", "figurative_language", "safe_targets", "safe_contexts",
               "definitions", "historical_events", "privacy_public", "privacy_fictional",
               "contrast_homonyms", "contrast_safe_targets", "contrast_definitions",
               "contrast_privacy")


def _assign_prompts(rng: np.random.Generator, n_part: int, n_prompts: int, k: int) -> np.ndarray:
    """n_part x k prompt indices, distinct within a row, each prompt used equally often.

    Rows are consecutive chunks of a stream of random permutations. A chunk straddling two
    permutations may repeat a prompt; the repeat is swapped with a later element of its own
    permutation, which keeps every permutation (and so the balance) intact.
    """
    if k > n_prompts:
        raise ValueError("ratings_per_participant cannot exceed n_prompts")
    need = n_part * k
    n_perm = -(-need // n_prompts)
    stream = np.concatenate([rng.permutation(n_prompts) for _ in range(n_perm)])
    starts = np.arange(n_part) * k
    straddling = np.flatnonzero(starts // n_prompts != (starts + k - 1) // n_prompts)
    for i in straddling:  # in order: a swap only moves a prompt into a later row
        start, end = i * k, (i + 1) * k
        seen: set[int] = set()
        for j in range(start, end):
            v = int(stream[j])
            if v in seen:
                block_end = (j // n_prompts + 1) * n_prompts
                row = set(stream[start:end].tolist())
                later = [s for s in range(end, block_end) if int(stream[s]) not in row]
                if later:
                    s = later[int(rng.integers(len(later)))]
                    stream[j], stream[s] = stream[s], stream[j]
                else:  # the stream ends here: draw an unused prompt instead
                    stream[j] = rng.choice(sorted(set(range(n_prompts)) - row))
                v = int(stream[j])
            seen.add(v)
    return stream[:need].reshape(n_part, k).copy()


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def _normal_ppf(p: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(np.clip(p, 1e-6, 1 - 1e-6))


def simulate_ratings(
    *,
    n_participants: int = 60,
    n_prompts: int = 100,
    ratings_per_participant: int = 20,
    models: dict[str, float] | None = None,
    share_should_refuse: float = 0.45,
    sd_participant: float = 0.8,
    sd_prompt: float = 0.5,
    sd_model: float = 0.3,
    sd_residual: float = 1.1,
    likert: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate one study's ratings as a wide frame (one column per scale).

    Columns: ``study, participant, item, prompt, prompt_category, should_refuse, model,
    response, refusal_label, refused, refusal_style, model_orr, helpfulness, frustration``
    (the tidy ``ratings.csv`` columns, pivoted to one column per scale). ``models`` maps model
    name to its over-refusal propensity (default: XSTest's human-labelled rates). With
    ``likert=False`` the outcomes are the continuous latent values instead of 1-7 integers.
    """
    rng = np.random.default_rng(seed)
    models = dict(models or XSTEST_HUMAN_ORR)
    names = sorted(models)
    n_models = len(names)
    orr = np.array([models[m] for m in names])

    # 1. responses: every model answers every prompt once
    harmful = rng.random(n_prompts) < share_should_refuse
    borderline = rng.normal(0.0, 0.8, n_prompts)
    p_benign = _normal_cdf(_normal_ppf(orr)[None, :] + borderline[:, None])
    trr = np.clip(0.80 + 0.3 * orr, 0.0, 0.99)
    p_refuse = np.where(harmful[:, None], trr[None, :], p_benign)
    refused = rng.random((n_prompts, n_models)) < p_refuse
    style_mix = rng.dirichlet([2.0, 3.0, 2.0, 2.0], size=n_models)
    u = rng.random((n_prompts, n_models))
    style = (u[..., None] > np.cumsum(style_mix, axis=1)[None, :, :-1]).sum(axis=2)
    style = np.where(refused, style, -1)  # -1: full compliance
    benign = ~harmful
    model_orr = refused[benign].mean(axis=0) if benign.any() else np.zeros(n_models)

    # 2. which participant rates which prompt, answered by which model
    k = ratings_per_participant
    prompt_idx = _assign_prompts(rng, n_participants, n_prompts, k).ravel()
    part_idx = np.repeat(np.arange(n_participants), k)
    model_idx = rng.integers(0, n_models, size=len(prompt_idx))
    st = style[prompt_idx, model_idx]
    ref = refused[prompt_idx, model_idx]
    sr = harmful[prompt_idx]

    n = len(prompt_idx)
    out = {
        "study": np.full(n, "sim"),
        "participant": np.char.add("p", np.char.zfill(part_idx.astype(str), 5)),
        "item": np.char.add(
            np.char.add("i", np.char.zfill(prompt_idx.astype(str), 5)),
            np.array(names, dtype=object)[model_idx].astype(str),
        ),
        "prompt": np.char.add("q", np.char.zfill(prompt_idx.astype(str), 5)),
        # benign prompts get one of the 8 safe XSTest types, harmful ones a contrast type
        "prompt_category": np.array(_CATEGORIES)[
            np.where(sr, 8 + prompt_idx % 4, prompt_idx % 8)
        ],
        "should_refuse": sr.astype(int),
        "model": np.array(names)[model_idx],
        "response": prompt_idx * n_models + model_idx,
        "refusal_label": np.where(
            ~ref, "full_compliance", np.where(st == 3, "partial_refusal", "full_refusal")
        ),
        "refused": ref.astype(int),
        "refusal_style": np.where(ref, np.array(STYLES)[np.maximum(st, 0)], "none"),
        "model_orr": np.round(model_orr[model_idx], 6),
    }
    for scale, effects in ZHENG2025_STYLE_EFFECTS.items():
        eff = np.append([effects[s] for s in STYLES], 0.0)[st]  # index -1 -> compliance
        latent = (
            _BASE[scale]
            + eff
            + _HARMFUL_REFUSAL_SHIFT[scale] * (ref & sr)
            + rng.normal(0, sd_participant, n_participants)[part_idx]
            + rng.normal(0, sd_prompt, n_prompts)[prompt_idx]
            + rng.normal(0, sd_model, n_models)[model_idx]
            + rng.normal(0, sd_residual, n)
        )
        out[scale] = np.clip(np.rint(latent), 1, 7).astype(int) if likert else latent
    return pd.DataFrame(out)
