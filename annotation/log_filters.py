"""Logging filter that keeps raw crowd-platform ids out of log files.

The services never log them, but request lines do: the entry link carries ``PROLIFIC_PID`` or
``workerId`` in its query string, and the development server (and any handler that formats a
full URL) would write it out verbatim. Attached to the project's handlers in settings.
"""

from __future__ import annotations

import logging
import re

# Query parameters that carry a crowd worker's identity (annotation.crowd reads these).
CROWD_ID_PARAMS = ("PROLIFIC_PID", "workerId", "external_id")
_PATTERN = re.compile(r"(?i)\b(" + "|".join(CROWD_ID_PARAMS) + r")(=|%3D)[^&\s\"']*")


def redact(text: str) -> str:
    return _PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


class RedactCrowdIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            # Freeze the redacted text: formatting the original args again would undo it.
            record.msg, record.args = clean, ()
        return True
