"""Write outputs atomically: into a hidden sibling, renamed over the target only when complete.

A stage killed or failing half-way (SIGKILL, disk full) so leaves either the previous output or none,
never a truncated file that a later stage or `dvc commit` would take for a finished one.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_SUFFIX = ".part"


class OutputError(OSError):
    """An output could not be written; the message names the output, not the temporary sibling."""


def _stale(path: Path, suffix: str) -> None:
    # A killed run leaves its sibling behind (nothing ran its cleanup); the next write of the same
    # output removes it. DVC runs one stage per repository at a time, so none is still being written.
    pattern = re.compile(rf"\.{re.escape(path.name)}\.\w+{re.escape(_SUFFIX + suffix)}")
    for old in (p for p in path.parent.iterdir() if pattern.fullmatch(p.name)):
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


# Errors only writing causes; write() reports them without a file name.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _named(path: Path, err: OSError) -> OutputError:
    reason = err.strerror or str(err)
    failed = OutputError(f"cannot write {path}: {reason}")
    failed.errno = err.errno
    return failed


def _foreign(part: Path, path: Path, err: Exception) -> OutputError | None:
    """A non-OSError a library raised writing into part (TensorFlow's ResourceExhaustedError on a full
    disk, say), as an OutputError naming the output; None when it is about something else."""
    message = str(err)
    reasons = [os.strerror(code) for code in (*_WRITE_ERRNOS, errno.EACCES)]
    if str(part) not in message or not any(reason in message for reason in reasons):
        return None
    return OutputError(f"cannot write {path}: {message.replace(str(part), str(path))}")


def _about(part: Path, err: OSError) -> bool:
    """Whether err concerns writing the output (and not, say, a missing input read inside the block)."""
    names = [str(name) for name in (err.filename, err.filename2) if name]
    return err.errno in _WRITE_ERRNOS or any(name.startswith(str(part)) for name in names)


@contextmanager
def _errors_naming(path: Path, part: Path, own=lambda err: False) -> Iterator[None]:
    """Errors about writing `part` (or that `own` claims) re-raised as one OutputError naming `path`."""
    try:
        yield
    except OSError as err:
        if not (_about(part, err) or own(err)):
            raise
        raise _named(path, err) from None
    except Exception as err:
        named = _foreign(part, path, err)
        if named is None:
            raise
        raise named from None


def _temporary_file(suffix: str, prefix: str, folder: Path) -> str:
    fd, name = tempfile.mkstemp(suffix, prefix, folder)
    os.close(fd)
    return name


def _sibling(path: Path, suffix: str, make) -> Path:
    """A new temporary file or folder (`make`: like tempfile.mkdtemp) beside `path`, after removing stale ones."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _stale(path, suffix)
        return Path(make(f"{_SUFFIX}{suffix}", f".{path.name}.", path.parent))
    except OSError as err:
        raise _named(path, err) from None


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary file path beside `path` (same suffix, for writers that go by it), renamed over `path` at the end.

    On any error the temporary file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    part = _sibling(path, path.suffix, _temporary_file)
    try:
        with _errors_naming(path, part):
            yield part
            os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: Path | str, mode: str = "w", **open_args) -> Iterator[IO]:
    """open(path, mode) into a temporary sibling, flushed to disk and renamed over `path` on success."""
    if "b" not in mode:
        open_args.setdefault("encoding", "utf-8")
    with atomic_path(path) as part:
        with open(part, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not reach the disk before the data does


@contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """A fresh temporary folder beside `path` to fill; it replaces `path` (and all it held) on success.

    On any error the temporary folder is removed and `path` keeps its previous content.
    """
    path = Path(path)
    part = _sibling(path, "", tempfile.mkdtemp)
    try:
        with _errors_naming(path, part, own=lambda err: err.filename == str(path)):
            yield part
            _swap_in(part, path)
    finally:
        shutil.rmtree(part, ignore_errors=True)


def _swap_in(part: Path, path: Path) -> None:
    """Put the filled folder `part` in place of `path`."""
    # os.replace cannot overwrite a non-empty folder: move the old one aside first. A kill between
    # the two renames leaves no `path`, which DVC sees as a missing output and re-runs the stage.
    old = None
    if path.is_dir() and not path.is_symlink():
        old = path.with_name(f".{path.name}.old{os.getpid()}{_SUFFIX}")
        os.replace(path, old)
    elif path.exists() or path.is_symlink():
        path.unlink()
    os.replace(part, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
