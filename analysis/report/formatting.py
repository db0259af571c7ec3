"""Number formatting shared by the HTML report, its figures and the tests.

One place decides how a number is printed, so a test can take a value from the report JSON,
format it with the formatter the HTML names (``data-f``) and find exactly that text in the
page. Missing values (None) print as an en dash, never as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

MISSING = "–"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fixed(digits: int) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        number = _number(value)
        if number is None:
            return MISSING
        text = f"{number:.{digits}f}"
        # "-0.000" reads as a sign that is not there
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    fmt.__name__ = f"num{digits}"
    return fmt


num2 = _fixed(2)
num3 = _fixed(3)


def pct(value: Any) -> str:
    """A proportion as a percentage with one decimal: 0.0333 → ``3.3 %``."""
    number = _number(value)
    return MISSING if number is None else f"{100 * number:.1f} %"


def pval(value: Any) -> str:
    """APA-like p: ``< 0.001`` below a thousandth, else three decimals."""
    number = _number(value)
    if number is None:
        return MISSING
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


def integer(value: Any) -> str:
    number = _number(value)
    return MISSING if number is None else f"{round(number):,}"


def text(value: Any) -> str:
    return MISSING if value is None else str(value)


def yes_no(value: Any) -> str:
    return MISSING if value is None else ("yes" if value else "no")


#: Formatter names as they appear in the HTML's ``data-f`` attributes.
FORMATTERS: dict[str, Callable[[Any], str]] = {
    "num2": num2,
    "num3": num3,
    "pct": pct,
    "p": pval,
    "int": integer,
    "text": text,
    "yesno": yes_no,
}


def ci(low: Any, high: Any, formatter: Callable[[Any], str] = num3) -> str:
    """``[low, high]``, or an en dash when either end is missing."""
    if _number(low) is None or _number(high) is None:
        return MISSING
    return f"[{formatter(low)}, {formatter(high)}]"
