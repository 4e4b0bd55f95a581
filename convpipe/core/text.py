"""Text fit for a one-line message."""

from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in '...' when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(text: str, limit: int, fallback: str = "") -> str:
    """The first non-empty line of `text` (else `fallback`), shortened to `limit` characters."""
    lines = text.strip().splitlines()
    return shorten(lines[0] if lines else fallback, limit)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def quote_path(path: object) -> str:
    """A file name fit for one line of text: as it is when printable, else in double quotes with \\n, \\t and
    \\xNN escapes (a byte that is not UTF-8 arrives from the OS as a lone surrogate, and is shown as that byte)."""
    text = str(path)
    if text.isprintable():  # lone surrogates are not
        return text
    escaped = "".join(
        _ESCAPES.get(char)
        or (f"\\x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff" else None)
        or (char if char.isprintable() else char.encode("unicode_escape").decode("ascii"))
        for char in text
    )
    return f'"{escaped}"'


def printable_path(path: object) -> str:
    """A file name fit for a JSON report: a byte that is not UTF-8 (a lone surrogate from the OS) shown as \\xNN."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
