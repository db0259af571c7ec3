"""The participant flow as a CONSORT-style diagram: a main column of steps, with the people
who left at each step in a box to the side."""

from __future__ import annotations

from typing import Any

from ..formatting import integer
from .base import INK, MUTED, Figure, esc, num

WIDTH = 720
MAIN_X, MAIN_W, MAIN_H = 30, 270, 52
SIDE_X, SIDE_W = 390, 300
LINE_H = 17


def _side_height(side: dict[str, Any]) -> float:
    return 46 + LINE_H * len(side.get("lines") or [])


def flow_diagram(flow: dict[str, Any], *, ident: str = "fig-flow") -> str:
    """SVG for ``report["flow"]`` (``chain`` of steps, each with an optional ``side`` box)."""
    chain = flow["chain"]
    gaps = [
        max(_side_height(step["side"]) + 28, 56) if step.get("side") else 40
        for step in chain[:-1]
    ]
    height = 20 + len(chain) * MAIN_H + sum(gaps) + 20
    fig = Figure(WIDTH, height, ident=ident)
    marker = f"{esc(ident)}-arrow"
    fig.add(
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{INK}"/></marker></defs>'
    )
    centre = MAIN_X + MAIN_W / 2
    y = 20.0
    for i, step in enumerate(chain):
        fig.rect(MAIN_X, y, MAIN_W, MAIN_H, fill="#eef4fa", stroke="#0072B2", rx=4)
        fig.text(centre, y + 18, step["label"], size=13, anchor="middle", weight="600")
        fig.text(centre, y + 37, f"n = {integer(step['n'])}", size=13, anchor="middle")
        if i == len(chain) - 1:
            break
        gap = gaps[i]
        top, bottom = y + MAIN_H, y + MAIN_H + gap
        fig.add(
            f'<line x1="{num(centre)}" y1="{num(top)}" x2="{num(centre)}" y2="{num(bottom - 1)}" '
            f'stroke="{INK}" stroke-width="1.3" marker-end="url(#{marker})"/>'
        )
        side = step.get("side")
        if side:
            side_h = _side_height(side)
            side_y = top + (gap - side_h) / 2
            middle = side_y + 24
            fig.add(
                f'<line x1="{num(centre)}" y1="{num(middle)}" x2="{num(SIDE_X - 1)}" '
                f'y2="{num(middle)}" stroke="{INK}" stroke-width="1.3" '
                f'marker-end="url(#{marker})"/>'
            )
            fig.rect(SIDE_X, side_y, SIDE_W, side_h, fill="#f6f8fa", stroke=MUTED, rx=4)
            fig.text(SIDE_X + 12, side_y + 16, side["label"], size=12.5, weight="600")
            fig.text(SIDE_X + 12, side_y + 34, f"n = {integer(side['n'])}", size=12.5)
            for k, line in enumerate(side.get("lines") or []):
                fig.text(SIDE_X + 24, side_y + 52 + k * LINE_H,
                         f"{line['label']}: {integer(line['n'])}", size=12, fill=MUTED)
        y = bottom
    steps = "; ".join(f"{s['label']}: {s['n']}" for s in chain)
    return fig.render("Participant flow", f"CONSORT-style participant flow. {steps}.")
