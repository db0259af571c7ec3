"""SVG primitives: escaping, a figure canvas, linear scales with nice ticks, axes, palettes."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK, MUTED, GRID, AXIS = "#1f2328", "#57606a", "#e6e8eb", "#8c959f"

#: Okabe & Ito (2008): distinguishable with every common colour-vision deficiency. Yellow
#: (#F0E442) goes last because it has little contrast against white.
CATEGORICAL = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
               "#F0E442")
#: ColorBrewer PuOr (colour-blind safe, diverging): ordinal scale values, low = orange.
DIVERGING = ("#b35806", "#e08214", "#fdb863", "#fee0b6", "#f7f7f7", "#d8daeb", "#b2abd2",
             "#8073ac", "#542788")


def esc(value: Any) -> str:
    """Text and attribute values: every data-derived string goes through here."""
    return html.escape(str(value), quote=True)


def num(value: float) -> str:
    """Coordinates with two decimals and no trailing zeros (smaller, stable output)."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def text_width(text: str, size: float = 12) -> float:
    """A rough width for layout (no font metrics server-side): ~0.58 em per character."""
    return len(text) * size * 0.58


def truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def colour(index: int) -> str:
    return CATEGORICAL[index % len(CATEGORICAL)]


def ordinal_colours(k: int) -> list[str]:
    """``k`` colours from the diverging palette, evenly spread, symmetric around its middle."""
    if k <= 1:
        return [DIVERGING[len(DIVERGING) // 2]] * max(k, 0)
    picks = [round(i * (len(DIVERGING) - 1) / (k - 1)) for i in range(k)]
    return [DIVERGING[i] for i in picks]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (Heckbert's nice numbers)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


class Scale:
    """Linear map from a data domain to pixels."""

    def __init__(self, domain: tuple[float, float], pixels: tuple[float, float]) -> None:
        self.d0, self.d1 = domain
        if self.d1 == self.d0:
            self.d1 = self.d0 + 1
        self.p0, self.p1 = pixels

    def __call__(self, value: float) -> float:
        return self.p0 + (value - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)


class Figure:
    """An SVG canvas that collects elements and renders them with a title and description."""

    def __init__(self, width: float, height: float, *, ident: str) -> None:
        self.width, self.height, self.ident = width, height, ident
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = AXIS,
             width: float = 1, dash: str = "", cls: str = "") -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' class="{cls}"' if cls else ""
        self.add(f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
                 f'stroke="{stroke}" stroke-width="{num(width)}"{extra}/>')

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str, stroke: str = "none",
             rx: float = 0, tooltip: str = "") -> None:
        title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
        self.add(f'<rect x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}" '
                 f'height="{num(max(h, 0))}" rx="{num(rx)}" fill="{fill}" stroke="{stroke}">'
                 f"{title}</rect>")

    def circle(self, cx: float, cy: float, r: float, *, fill: str, stroke: str = "#ffffff",
               tooltip: str = "") -> None:
        title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
        self.add(f'<circle cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}" fill="{fill}" '
                 f'stroke="{stroke}" stroke-width="1.5">{title}</circle>')

    def text(self, x: float, y: float, content: Any, *, size: float = 12, anchor: str = "start",
             fill: str = INK, weight: str = "normal", rotate: float = 0,
             baseline: str = "middle") -> None:
        transform = f' transform="rotate({num(rotate)} {num(x)} {num(y)})"' if rotate else ""
        bold = f' font-weight="{weight}"' if weight != "normal" else ""
        self.add(f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}" '
                 f'text-anchor="{anchor}" dominant-baseline="{baseline}" fill="{fill}"'
                 f"{bold}{transform}>{esc(content)}</text>")

    def render(self, title: str, description: str = "") -> str:
        ident = esc(self.ident)
        desc = f'<desc id="{ident}-desc">{esc(description)}</desc>' if description else ""
        labelled = f"{ident}-title" + (f" {ident}-desc" if description else "")
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="figure-svg" id="{ident}" '
            f'width="{num(self.width)}" height="{num(self.height)}" '
            f'viewBox="0 0 {num(self.width)} {num(self.height)}" role="img" '
            f'aria-labelledby="{labelled}" font-family="{esc(FONT)}">'
            f'<title id="{ident}-title">{esc(title)}</title>{desc}'
            + "".join(self.parts)
            + "</svg>"
        )


def x_axis(fig: Figure, scale: Scale, ticks: Sequence[float], *, y: float, top: float,
           label: str = "", fmt: Callable[[float], str] = lambda v: f"{v:g}",
           grid: bool = True) -> None:
    """Ticks, labels and (optionally) vertical grid lines from ``top`` down to the axis."""
    fig.line(scale(ticks[0]), y, scale(ticks[-1]), y, stroke=AXIS)
    for tick in ticks:
        x = scale(tick)
        if grid:
            fig.line(x, top, x, y, stroke=GRID)
        fig.line(x, y, x, y + 4, stroke=AXIS)
        fig.text(x, y + 15, fmt(tick), size=11, anchor="middle", fill=MUTED)
    if label:
        fig.text((scale(ticks[0]) + scale(ticks[-1])) / 2, y + 34, label, size=12,
                 anchor="middle", fill=INK)


def y_axis(fig: Figure, scale: Scale, ticks: Sequence[float], *, x: float, right: float,
           label: str = "", fmt: Callable[[float], str] = lambda v: f"{v:g}") -> None:
    """Ticks, labels and horizontal grid lines from the axis to ``right``."""
    fig.line(x, scale(ticks[0]), x, scale(ticks[-1]), stroke=AXIS)
    for tick in ticks:
        y = scale(tick)
        fig.line(x, y, right, y, stroke=GRID)
        fig.line(x - 4, y, x, y, stroke=AXIS)
        fig.text(x - 7, y, fmt(tick), size=11, anchor="end", fill=MUTED)
    if label:
        middle = (scale(ticks[0]) + scale(ticks[-1])) / 2
        fig.text(x - 38, middle, label, size=12, anchor="middle", rotate=-90)


def error_bar(fig: Figure, x1: float, y1: float, x2: float, y2: float, *, colour: str,
              cap: float = 4) -> None:
    """A line with end caps perpendicular to it (horizontal or vertical bars only)."""
    fig.line(x1, y1, x2, y2, stroke=colour, width=1.6)
    if y1 == y2:
        fig.line(x1, y1 - cap, x1, y1 + cap, stroke=colour, width=1.6)
        fig.line(x2, y2 - cap, x2, y2 + cap, stroke=colour, width=1.6)
    else:
        fig.line(x1 - cap, y1, x1 + cap, y1, stroke=colour, width=1.6)
        fig.line(x2 - cap, y2, x2 + cap, y2, stroke=colour, width=1.6)


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
