"""Turning the library's exceptions into one readable line and an exit code."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

# What bad input raises; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, OSError)


class Terminated(BaseException):
    """SIGTERM arrived; a BaseException like KeyboardInterrupt, so `except Exception` does not swallow it."""


class Stopped(BaseException):
    """A stage ends on purpose before its work is done (a tuning trial pruned), with one line and its own exit code.

    A BaseException, so nothing on the way up mistakes it for a failure to handle; DVC then records no result.
    """

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _terminate(signum, frame) -> None:
    raise Terminated


def run_main(main: Callable[[], object], name: str) -> int:
    """Call main(); on a user error print 'name: error: …' to stderr and return 1.

    SIGTERM (from `kill`, a CI timeout or a container stop) unwinds like Ctrl-C, so `with` blocks
    remove temporary outputs and mark the MLflow run failed, and the stage ends with 143.
    """
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except USER_ERRORS as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 1
    except Stopped as stop:
        print(f"{name}: {stop}", file=sys.stderr)
        return stop.code
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{name}: terminated by SIGTERM; partial outputs removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    return 0
