"""Decode untrusted image files in separate processes, each file bounded in time and in memory; no TensorFlow here."""

from __future__ import annotations

import multiprocessing
import resource
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pebble import ProcessExpired, ProcessPool
from PIL import Image

from convpipe.data.images import ImageRejected, load_image, resize

MIB = 1 << 20
WORKERS = 2  # each may hold its memory limit; on a small machine the model in the parent needs the rest


@dataclass(frozen=True)
class Limits:
    """What decoding one file may take."""

    timeout_s: float = 10.0  # seconds from when a decoder process starts the file
    # MiB a decoder process may grow by over its size at start-up; enough for any image under Pillow's pixel
    # limit (a 16-bit grey one at the limit peaks at 2.3 GiB while it is scaled to 8 bits)
    memory_mb: int = 3072


@dataclass(frozen=True)
class Decoded:
    """One file's uint8 H×W×C pixels, or why it has none."""

    path: Path
    pixels: np.ndarray | None = None
    error: str | None = None


class Undecodable(Exception):
    """ImageRejected's reason on its way back from a decoder process (ImageRejected itself does not unpickle)."""


class Decoder:
    """A few decoder processes behind a context manager; `batches` decodes files in order, a batch at a time."""

    def __init__(self, color_mode: str, image_size: tuple[int, int], limits: Limits):
        self._job = (color_mode, tuple(image_size))
        self._limits = limits
        # spawn, not fork: a forked child would inherit TensorFlow's threads, and locks they hold, from the parent.
        # pebble replaces a process that timed out or died and fails only that file, which concurrent.futures cannot.
        self._pool = ProcessPool(
            max_workers=WORKERS,
            initializer=_cap_memory,
            initargs=(limits.memory_mb,),
            context=multiprocessing.get_context("spawn"),
        )

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc_info) -> None:
        # Whatever is still scheduled after an error or an early stop is not wanted; stop, don't drain.
        self._pool.stop()
        self._pool.join()

    def batches(self, files: list[Path], size: int) -> Iterator[list[Decoded]]:
        """The files decoded `size` at a time, in order; the next batch decodes while the caller uses this one."""
        scheduled = deque()
        for start in range(0, len(files), size):
            scheduled.append(
                [
                    (path, self._pool.schedule(_decode, (str(path), *self._job), timeout=self._limits.timeout_s))
                    for path in files[start : start + size]
                ]
            )
            if len(scheduled) == 2:
                yield [self._result(path, future) for path, future in scheduled.popleft()]
        while scheduled:
            yield [self._result(path, future) for path, future in scheduled.popleft()]

    def _result(self, path: Path, future: Future) -> Decoded:
        try:
            return Decoded(path, future.result())
        except Undecodable as rejected:
            return Decoded(path, error=str(rejected))
        except TimeoutError:
            return Decoded(path, error=f"decoding took over {self._limits.timeout_s:g} s (limit --decode-timeout)")
        except MemoryError:
            return Decoded(
                path,
                error=f"decoding exceeded the {self._limits.memory_mb} MiB decode memory limit (--decode-memory-mb)",
            )
        except ProcessExpired as died:  # an OSError, so before the file system's
            return Decoded(path, error=f"the decoder process died (exit code {died.exitcode})")
        except OSError as err:
            return Decoded(path, error=err.strerror or str(err))


def _cap_memory(memory_mb: int) -> None:
    """Decoder process start: let its address space grow by at most memory_mb from here on."""
    Image.init()  # Pillow imports its format plugins on the first open otherwise, inside the budget
    with open("/proc/self/statm", encoding="ascii") as handle:
        size = int(handle.read().split()[0]) * resource.getpagesize()
    cap = size + memory_mb * MIB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    # The hard limit too, so that nothing running in this process can lift the cap again.
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _decode(path: str, color_mode: str, image_size: tuple[int, int]) -> np.ndarray:
    """In a decoder process: one file decoded and resized like the preprocess stage, uint8 H×W×C."""
    try:
        image, _ = load_image(path, color_mode, Image.MAX_IMAGE_PIXELS)
    except ImageRejected as rejected:
        raise Undecodable(rejected.reason) from None
    return resize(image, image_size)
