"""Figures about models: rating distributions, and automated ORR against perceived ratings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..formatting import integer, num2, pct
from .base import (
    INK,
    MUTED,
    Figure,
    Scale,
    colour,
    error_bar,
    finite,
    nice_ticks,
    ordinal_colours,
    text_width,
    truncate,
    x_axis,
    y_axis,
)

WIDTH = 760


def _dark(hex_colour: str) -> bool:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 140


def _label_margin(names: list[str], *, low: float = 90, high: float = 220) -> float:
    return min(high, max(low, max((text_width(n) for n in names), default=0) + 18))


def distribution_chart(
    dist: dict[str, Any], *, scales: Mapping[str, dict[str, Any]] | None = None,
    ident: str = "fig-distributions",
) -> str:
    """100 % stacked bars of the share of each scale value, one bar per model, one panel per
    scale. ``scales`` gives each scale's ``question`` and anchors for the legend."""
    names = [truncate(m["model"], 32) for s in dist["scales"] for m in s["models"]]
    left, right = _label_margin(names), WIDTH - 70
    bar_h, gap = 22, 9
    heights = [58 + len(s["models"]) * (bar_h + gap) + 46 for s in dist["scales"]]
    fig = Figure(WIDTH, sum(heights) + 10, ident=ident)
    x = Scale((0, 1), (left, right))
    top = 10.0
    for panel, height in zip(dist["scales"], heights, strict=True):
        info = (scales or {}).get(panel["scale"], {})
        fig.text(12, top + 10, panel["scale"], size=14, weight="600")
        if info.get("question"):
            fig.text(12 + text_width(panel["scale"], 14) + 12, top + 10,
                     truncate(info["question"], 80), size=12, fill=MUTED)
        colours = ordinal_colours(len(panel["values"]))
        legend_y = top + 34
        lx = left
        if info.get("low_anchor"):
            fig.text(lx, legend_y, truncate(info["low_anchor"], 24), size=11, fill=MUTED)
            lx += text_width(truncate(info["low_anchor"], 24), 11) + 8
        for value, fill in zip(panel["values"], colours, strict=True):
            fig.rect(lx, legend_y - 7, 14, 14, fill=fill, stroke="#8c959f")
            fig.text(lx + 18, legend_y, value, size=11)
            lx += 18 + text_width(str(value), 11) + 12
        if info.get("high_anchor"):
            fig.text(lx, legend_y, truncate(info["high_anchor"], 24), size=11, fill=MUTED)
        y = top + 58
        for model in panel["models"]:
            label = truncate(model["model"], 32)
            fig.text(left - 8, y + bar_h / 2, label, anchor="end")
            start = 0.0
            for value, count, share, fill in zip(panel["values"], model["counts"],
                                                 model["shares"], colours, strict=True):
                if not share:
                    continue
                x0, x1 = x(start), x(start + share)
                fig.rect(x0, y, x1 - x0, bar_h, fill=fill, stroke="#ffffff",
                         tooltip=f"{model['model']}: {value} chosen {count} times ({pct(share)})")
                if x1 - x0 >= 30:
                    fig.text((x0 + x1) / 2, y + bar_h / 2, f"{100 * share:.0f}%", size=10.5,
                             anchor="middle", fill="#ffffff" if _dark(fill) else INK)
                start += share
            fig.text(right + 8, y + bar_h / 2, f"n = {integer(model['n'])}", size=11, fill=MUTED)
            y += bar_h + gap
        x_axis(fig, x, [0, 0.25, 0.5, 0.75, 1], y=y + 2, top=top + 54,
               fmt=lambda v: f"{100 * v:.0f} %", grid=False)
        top += height
    return fig.render(
        "Rating distributions per model",
        "Share of each scale value among each model's ratings, one panel per scale.",
    )


def _panel_domain(rows: list[dict[str, Any]], scale_range: tuple[float, float] | None):
    if scale_range:
        return nice_ticks(*scale_range, count=len(range(int(scale_range[0]),
                                                         int(scale_range[1]) + 1)))
    values = [v for p in rows for v in (p["ci_low"], p["ci_high"], p["mean"]) if finite(v)]
    return nice_ticks(min(values, default=0) - 0.2, max(values, default=1) + 0.2)


def orr_perception_chart(
    table: dict[str, Any], *, scale_ranges: Mapping[str, tuple[float, float]] | None = None,
    ident: str = "fig-orr-perception",
) -> str:
    """One scatter panel per perceived scale: automated ORR (x, Wilson CI) against the mean
    rating (y, t-interval), a colour per model and a shared legend."""
    scales = table["perceived_scales"]
    columns = min(2, max(1, len(scales)))
    panel_w, panel_h = WIDTH / columns, 300
    rows = table["rows"]
    orr_high = max([r["orr"]["ci_high"] for r in rows if finite(r["orr"]["ci_high"])] + [0.1])
    x_ticks = nice_ticks(0, orr_high, 5)
    legend_rows = max(1, -(-sum(text_width(truncate(r["model"], 28)) + 40 for r in rows) // 700))
    n_panel_rows = -(-len(scales) // columns)
    fig = Figure(WIDTH, n_panel_rows * panel_h + 18 + 22 * legend_rows, ident=ident)
    for k, scale in enumerate(scales):
        ox, oy = (k % columns) * panel_w, (k // columns) * panel_h
        left, right, top, bottom = ox + 62, ox + panel_w - 18, oy + 30, oy + panel_h - 52
        points = [{**r["perceived"][k], "orr": r["orr"], "i": i} for i, r in enumerate(rows)]
        y_ticks = _panel_domain(points, (scale_ranges or {}).get(scale))
        # inset from the y axis so that a model with ORR 0 is not drawn on top of it
        x = Scale((x_ticks[0], x_ticks[-1]), (left + 12, right))
        y = Scale((y_ticks[0], y_ticks[-1]), (bottom, top))
        fig.text(left, oy + 12, f"Perceived {scale} vs automated ORR", size=13, weight="600")
        y_axis(fig, y, y_ticks, x=left, right=right, label=f"mean {scale} (95 % CI)")
        x_axis(fig, x, x_ticks, y=bottom, top=top, label="automated over-refusal rate (95 % CI)",
               fmt=lambda v: f"{100 * v:.0f} %")
        for p in points:
            orr, mean = p["orr"], p["mean"]
            if not (finite(orr["value"]) and finite(mean)):
                continue
            c = colour(p["i"])
            if finite(orr["ci_low"]) and finite(orr["ci_high"]):
                error_bar(fig, x(orr["ci_low"]), y(mean), x(orr["ci_high"]), y(mean), colour=c)
            if finite(p["ci_low"]) and finite(p["ci_high"]):
                error_bar(fig, x(orr["value"]), y(p["ci_low"]), x(orr["value"]), y(p["ci_high"]),
                          colour=c)
            fig.circle(x(orr["value"]), y(mean), 5.5, fill=c,
                       tooltip=f"{rows[p['i']]['model']}: ORR {pct(orr['value'])}, "
                               f"mean {scale} {num2(mean)}")
    lx, ly = 62.0, n_panel_rows * panel_h + 14
    for i, row in enumerate(rows):
        label = truncate(row["model"], 28)
        width = text_width(label) + 40
        if lx + width > WIDTH - 10:
            lx, ly = 62.0, ly + 22
        fig.circle(lx + 6, ly, 5.5, fill=colour(i))
        fig.text(lx + 16, ly, label)
        lx += width
    return fig.render(
        "Automated over-refusal rate against perceived ratings",
        "Each point is a model: x is its automated ORR with a Wilson 95 % interval, y its mean "
        "rating with a t-interval over participant means.",
    )
