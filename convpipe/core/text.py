"""Text fit for a one-line message."""

from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in '...' when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(text: str, limit: int, fallback: str = "") -> str:
    """The first non-empty line of `text` (else `fallback`), shortened to `limit` characters."""
    lines = text.strip().splitlines()
    return shorten(lines[0] if lines else fallback, limit)
