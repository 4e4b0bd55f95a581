"""Near-duplicate images: the same picture resized or re-encoded, found by perceptual hash.

Images whose 64-bit hashes differ in at most `distance` bits are linked; linked images form a group
(union-find), which the split assigns as a whole. Pairs are found through an exact-match index on
distance + 1 blocks of the hash bits (pigeonhole: two hashes within `distance` bits agree on at least
one block), so the work grows with the number of candidate pairs, not with all pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np

from convpipe.data.images import ImageRejected, load_image

HASHES: dict[str, Callable] = {"phash": imagehash.phash, "dhash": imagehash.dhash}
BITS = 64  # imagehash's default hash_size 8 gives 8 × 8 bits


@dataclass(frozen=True)
class Group:
    """Indices of linked images (sorted) and every linked pair within them as (i, j, bits apart)."""

    members: tuple[int, ...]
    pairs: tuple[tuple[int, int, int], ...]


def perceptual_hash(path: Path | str, kind: str, max_pixels: int) -> int | None:
    """The image's 64-bit perceptual hash as an int, or None when it cannot be decoded (the
    preprocess stage rejects and reports those files)."""
    if kind not in HASHES:
        raise ValueError(f"data.near_duplicate_hash: {kind!r} is not one of {sorted(HASHES)}")
    try:
        image, _ = load_image(Path(path), "grayscale", max_pixels)
    except (ImageRejected, OSError):
        return None
    return int(str(HASHES[kind](image)), 16)


def hash_all(paths: list[str], kind: str, max_pixels: int, workers: int) -> list[int | None]:
    """perceptual_hash() of every path, in order, in worker threads (Pillow and the DCT release the GIL)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda path: perceptual_hash(path, kind, max_pixels), paths))


def close_pairs(hashes: np.ndarray, distance: int) -> dict[tuple[int, int], int]:
    """{(i, j): bits apart} for every pair i < j of uint64 hashes at most `distance` bits apart."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    found: dict[tuple[int, int], int] = {}
    if distance < 1 or len(hashes) < 2:
        return found
    bounds = np.linspace(0, BITS, min(distance + 1, BITS) + 1).astype(int)
    for low, high in zip(bounds[:-1], bounds[1:]):
        keys = (hashes >> np.uint64(low)) & np.uint64((1 << int(high - low)) - 1)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(order)]
        shared = ends - starts > 1
        for start, end in zip(starts[shared], ends[shared]):
            bucket = order[start:end]
            for k in range(len(bucket) - 1):
                rest = bucket[k + 1 :]
                bits = np.bitwise_count(hashes[bucket[k]] ^ hashes[rest])
                near = bits <= distance
                for other, apart in zip(rest[near].tolist(), bits[near].tolist()):
                    found[(min(bucket[k], other), max(bucket[k], other))] = apart
    return {(int(i), int(j)): d for (i, j), d in found.items()}


def group(hashes: list[int | None], distance: int) -> list[Group]:
    """Groups of two or more images linked through pairs within `distance` bits; None hashes stay alone."""
    known = [i for i, h in enumerate(hashes) if h is not None]
    pairs = close_pairs(np.array([hashes[i] for i in known], dtype=np.uint64), distance)
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    linked = [(known[i], known[j], d) for (i, j), d in sorted(pairs.items())]
    for i, j, _ in linked:
        parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in sorted({end for a, b, _ in linked for end in (a, b)}):
        members.setdefault(root(i), []).append(i)
    links: dict[int, list[tuple[int, int, int]]] = {}
    for i, j, d in linked:
        links.setdefault(root(i), []).append((i, j, d))
    return sorted((Group(tuple(m), tuple(links[r])) for r, m in members.items()), key=lambda g: g.members)


def crossed(groups: list[list[str]], split_of: dict[str, str]) -> int:
    """How many groups (lists of paths) have members in more than one split."""
    return sum(len({split_of[p] for p in paths if p in split_of}) > 1 for paths in groups)


def summary(
    groups: list[Group],
    paths: list[str],
    labels: list[str],
    split_of: dict[str, str],
    kind: str,
    distance: int,
    crossed_before: int,
    listed: int,
) -> dict:
    """What reports/data.json says about near-duplicates: counts, and the largest `listed` groups with
    their paths, labels, split and linked pairs (indices into the group's paths, bits apart)."""
    shown = sorted(groups, key=lambda g: (-len(g.members), g.members))[:listed]
    return {
        "hash": kind,
        "distance": distance,
        "groups": len(groups),
        "images_in_groups": sum(len(g.members) for g in groups),
        "groups_with_two_labels": sum(len({labels[i] for i in g.members}) > 1 for g in groups),
        "crossed_splits_before_grouping": crossed_before,
        "listed": [
            {
                "paths": [paths[i] for i in g.members],
                "labels": [labels[i] for i in g.members],
                "split": sorted({split_of.get(paths[i], "unused") for i in g.members}),
                "pairs": [[g.members.index(i), g.members.index(j), d] for i, j, d in g.pairs],
            }
            for g in shown
        ],
    }
