"""Turning the library's exceptions into one readable line and an exit code."""
from __future__ import annotations

import sys
from collections.abc import Callable

# What bad input raises; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, OSError)


def run_main(main: Callable[[], object], name: str) -> int:
    """Call main(); on a user error print 'name: error: …' to stderr and return 1."""
    try:
        main()
    except USER_ERRORS as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    return 0
