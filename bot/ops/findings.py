"""What `doctor` reports: one finding per thing checked, each failure with its fix."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN (advice: Pathways works, but look at it) or FAIL (must be fixed)
    topic: str
    text: str
    fix: str = ""

    def lines(self, width: int = 100) -> list[str]:
        """`status topic text`, the text and its fix wrapped under the text."""
        indent = " " * 20
        body = [part for line in self.text.splitlines() for part in _wrap(line, width - 20)]
        if self.fix:
            body += _wrap("fix: " + self.fix, width - 20)
        first, *rest = body or [""]
        return [f"{self.status:<5} {self.topic:<13} {first}", *(indent + line for line in rest)]


def _wrap(line: str, width: int) -> list[str]:
    # Commands and paths are not broken across lines, so they can be copied.
    return textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""]


def ok(topic: str, text: str) -> Finding:
    return Finding(OK, topic, text)


def warn(topic: str, text: str, fix: str = "") -> Finding:
    return Finding(WARN, topic, text, fix)


def fail(topic: str, text: str, fix: str) -> Finding:
    return Finding(FAIL, topic, text, fix)


def first(problems: list[str], limit: int = 8) -> str:
    """A few problems, and how many more there are."""
    shown = problems[:limit]
    more = len(problems) - len(shown)
    return "\n".join(shown) + (f"\n... and {more} more" if more else "")
