"""Interval plots: fixed effects (forest plot), Bradley–Terry strengths, position bias; and the
dashboard's histogram of ratings per item."""

from __future__ import annotations

from typing import Any

from ..formatting import ci, integer, num3, pct, pval
from .base import (
    MUTED,
    Figure,
    Scale,
    colour,
    error_bar,
    finite,
    nice_ticks,
    text_width,
    truncate,
    x_axis,
    y_axis,
)

WIDTH = 760
ROW_H = 30


def _interval_rows(
    fig: Figure, rows: list[dict[str, Any]], *, top: float, left: float, right: float,
    reference: float, axis_label: str, fmt=lambda v: f"{v:g}", point_colour: str = "#0072B2",
) -> float:
    """Draw label / point with CI / right-hand text rows; return the y below the axis."""
    values = [v for r in rows for v in (r["low"], r["high"], r["value"]) if finite(v)]
    ticks = nice_ticks(min(values + [reference]), max(values + [reference]), 6)
    x = Scale((ticks[0], ticks[-1]), (left, right))
    bottom = top + len(rows) * ROW_H + 8
    x_axis(fig, x, ticks, y=bottom, top=top, label=axis_label, fmt=fmt)
    fig.line(x(reference), top, x(reference), bottom, stroke="#57606a", dash="4 3")
    for i, row in enumerate(rows):
        y = top + 4 + i * ROW_H + ROW_H / 2
        fig.text(left - 10, y, row["label"], anchor="end")
        if finite(row["low"]) and finite(row["high"]):
            error_bar(fig, x(row["low"]), y, x(row["high"]), y, colour=point_colour)
        if finite(row["value"]):
            fig.circle(x(row["value"]), y, 5, fill=point_colour, tooltip=row["text"])
        fig.text(right + 14, y, row["text"], size=11.5, fill=MUTED)
    return bottom + 44


def forest_plot(fit: dict[str, Any], *, ident: str) -> str:
    """Fixed effects of one fit with 95 % Wald intervals; the intercept is left out because it
    sits on another scale (the mean rating), which would squash every other interval."""
    fixed = [r for r in fit["fixed"] if r["term"] != "(Intercept)"]
    rows = [
        {"label": truncate(r["term"], 30), "value": r["estimate"], "low": r["ci_low"],
         "high": r["ci_high"], "text": f"{num3(r['estimate'])} {ci(r['ci_low'], r['ci_high'])}"}
        for r in fixed
    ]
    left = min(260, max(110, max((text_width(r["label"]) for r in rows), default=0) + 24))
    fig = Figure(WIDTH, 40 + len(rows) * ROW_H + 60, ident=ident)
    fig.text(12, 14, truncate(fit["formula"], 110), size=11.5, fill=MUTED)
    _interval_rows(fig, rows, top=32, left=left, right=WIDTH - 200, reference=0.0,
                   axis_label=f"effect on {fit['outcome']} (rating points, 95 % CI)")
    return fig.render(
        f"Fixed effects: {fit['outcome']}",
        f"Estimates with 95 % Wald intervals for {fit['formula']} (intercept not shown).",
    )


def bradley_terry_chart(pairwise: dict[str, Any], *, ident: str = "fig-bradley-terry") -> str:
    """Centred log-strengths with the participant-bootstrap interval, best model on top."""
    rows = [
        {"label": truncate(r["model"], 30), "value": r["log_strength"], "low": r["ci_low"],
         "high": r["ci_high"],
         "text": f"{num3(r['log_strength'])} {ci(r['ci_low'], r['ci_high'])}  "
                 f"W/L/T {r['wins']}/{r['losses']}/{r['ties']}"}
        for r in pairwise["bradley_terry"]
    ]
    left = min(260, max(110, max((text_width(r["label"]) for r in rows), default=0) + 24))
    fig = Figure(WIDTH, 24 + len(rows) * ROW_H + 60, ident=ident)
    _interval_rows(fig, rows, top=16, left=left, right=WIDTH - 250, reference=0.0,
                   axis_label="log-strength (0 = the average model; 95 % bootstrap CI)",
                   point_colour="#009E73")
    return fig.render(
        "Bradley–Terry strengths",
        "Log-strength of each model from A/B choices (ties as half wins), with percentile "
        "bootstrap intervals over participants; higher is preferred.",
    )


def position_bias_chart(bias: dict[str, Any], *, ident: str = "fig-position-bias") -> str:
    """Share of non-tie choices for the left response, with its Wilson interval, against 0.5."""
    row = {
        "label": "left response chosen", "value": bias.get("share_left"),
        "low": bias.get("ci_low"), "high": bias.get("ci_high"),
        "text": f"{pct(bias.get('share_left'))} of {integer(bias.get('n'))}, p = "
                f"{pval(bias.get('p'))}",
    }
    fig = Figure(WIDTH, 24 + ROW_H + 62, ident=ident)
    left = 170
    x = Scale((0, 1), (left, WIDTH - 230))
    fig.text(x(0.5) + 6, 12, "no bias (50 %)", size=11, fill=MUTED)
    bottom = 20 + ROW_H + 8
    x_axis(fig, x, [0, 0.25, 0.5, 0.75, 1], y=bottom, top=20,
           label="share of non-tie choices for the left response (95 % CI)",
           fmt=lambda v: f"{100 * v:.0f} %")
    fig.line(x(0.5), 20, x(0.5), bottom, stroke="#57606a", dash="4 3")
    y = 24 + ROW_H / 2
    fig.text(left - 10, y, row["label"], anchor="end")
    if finite(row["low"]) and finite(row["high"]):
        error_bar(fig, x(row["low"]), y, x(row["high"]), y, colour="#D55E00")
    if finite(row["value"]):
        fig.circle(x(row["value"]), y, 5.5, fill="#D55E00", tooltip=row["text"])
    fig.text(WIDTH - 216, y, row["text"], size=11.5, fill=MUTED)
    return fig.render(
        "Position bias",
        "Share of A/B choices that went to the response shown on the left; 50 % means no bias.",
    )


def quota_histogram(buckets: list[dict[str, Any]], *, quota: int,
                    ident: str = "fig-quota") -> str:
    """Items by number of answered ratings (0 … quota); bars at the quota are complete."""
    width, height = 560, 250
    left, right, top, bottom = 64, width - 16, 18, height - 52
    fig = Figure(width, height, ident=ident)
    peak = max([b["items"] for b in buckets] + [1])
    ticks = nice_ticks(0, peak, 5)
    y = Scale((ticks[0], ticks[-1]), (bottom, top))
    y_axis(fig, y, ticks, x=left, right=right, label="items", fmt=lambda v: f"{v:g}")
    band = (right - left) / max(len(buckets), 1)
    for i, bucket in enumerate(buckets):
        x0 = left + i * band + band * 0.15
        done = bucket["ratings"] >= quota
        fig.rect(x0, y(bucket["items"]), band * 0.7, bottom - y(bucket["items"]),
                 fill=colour(2) if done else colour(0),
                 tooltip=f"{bucket['items']} item(s) with {bucket['label']} rating(s)")
        fig.text(x0 + band * 0.35, y(bucket["items"]) - 8, bucket["items"], size=11,
                 anchor="middle")
        fig.text(x0 + band * 0.35, bottom + 14, bucket["label"], size=11, anchor="middle",
                 fill=MUTED)
    fig.line(left, bottom, right, bottom)
    fig.text((left + right) / 2, bottom + 34, f"answered ratings per item (quota {quota})",
             anchor="middle")
    return fig.render("Ratings per item against the quota",
                      "How many items have 0, 1, … ratings; green bars have reached the quota.")
