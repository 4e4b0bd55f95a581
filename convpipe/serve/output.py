"""How predict and similar print their results: text lines or one JSON list, each result as soon as it comes."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterable

from convpipe.core.text import quote_path


class JsonList:
    """Prints the same text as json.dumps(items, indent=2), each item as soon as it is added."""

    def __init__(self):
        self.count = 0

    def add(self, item: dict) -> None:
        """Print one more item of the list."""
        print(",\n" if self.count else "[\n", end="")
        print(textwrap.indent(json.dumps(item, indent=2), "  "), end="")
        self.count += 1

    def close(self) -> None:
        """Print the end of the list."""
        print("\n]" if self.count else "[]")


def emit(results: Iterable, as_json: bool, to_json: Callable[[object], dict], to_text: Callable[[object], str]) -> int:
    """Print every result (each has .path and .error) as text or JSON, errors also to stderr; how many failed.

    In text, a path that is not printable as it is (a newline, a byte that is not UTF-8) is quoted and escaped.
    """
    listing, failed = JsonList(), 0
    for result in results:
        if result.error:
            print(f"{quote_path(result.path)}: error: {result.error}", file=sys.stderr)
            failed += 1
        if as_json:
            listing.add({"path": result.path, "error": result.error} if result.error else to_json(result))
        elif not result.error:
            print(to_text(result))
    if as_json:
        listing.close()
    return failed
