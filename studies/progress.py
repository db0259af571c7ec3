"""A tiny progress bar for long-running commands (import, collection, labelling).

tqdm would do, but one class of forty lines is cheaper than a dependency. The bar writes to a
stream (stderr in commands) and stays silent unless that stream is a terminal or the caller
forces it, so logs and CI output are not littered with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import Self, TextIO


class Progress:
    """``Progress(total, label=…)``; ``update(n)`` after each unit of work, ``close()`` at the end.

    ``total`` may be None (unknown length: a counter instead of a bar). Redraws at most ten
    times a second, so updating once per row of an 80,000-row file costs nothing noticeable.
    """

    width = 30

    def __init__(
        self,
        total: int | None = None,
        *,
        label: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.done = 0
        self._started = time.monotonic()
        self._drawn_at = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and time.monotonic() - self._drawn_at >= 0.1:
            self._draw()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        elapsed = self._drawn_at - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = int(share * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"{self.label} [{bar}] {self.done}/{self.total} ({rate:.0f}/s)"
        else:
            text = f"{self.label} {self.done} ({rate:.0f}/s)"
        self.stream.write("\r" + text)
        self.stream.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
