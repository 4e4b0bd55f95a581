"""index: embed the train split with the finetuned model's penultimate layer and index it for search.

Reads params: seed, data.max_pixels, index, tracking; the image size and colour mode from paths.prepared/meta.json.
Writes: paths.index/index.faiss (exact inner product, or HNSW above index.exact_max), items.csv (path, label
per vector), index.json (kind, size, preprocessing) and embedder.keras (pixels → embedding).
"""

import os
import sys

import numpy as np

from convpipe.core.atomic import atomic_dir
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import shards, split
from convpipe.data.images import color_mode_of
from convpipe.evaluate import retrieval
from convpipe.model.embedding import embedding_model
from convpipe.model.saved import MODEL_FILE, load_model
from convpipe.model.seeding import seed_everything

BATCH_SIZE = 256  # images per embedding batch


def decode(
    members: list[split.Record], color_mode: str, max_pixels: int, size: tuple[int, int]
) -> tuple[list[split.Record], np.ndarray, int]:
    """The images decoded exactly as the preprocess stage does; files it rejects are left out and counted."""
    kept, pixels = [], []
    for record, image, _ in shards.decode_all(members, color_mode, max_pixels, size, os.cpu_count() or 1):
        if image is not None:
            kept.append(record)
            pixels.append(image.astype(np.float32))
    return kept, np.stack(pixels), len(members) - len(kept)


def main() -> None:
    params, paths = load_params(), load_paths()
    seed_everything(params.seed)
    meta = shards.read_meta(paths.prepared)  # the size and colour mode preprocess used (resolved when "auto")
    color_mode, image_size, settings = color_mode_of(meta["channels"]), meta["image_size"], params.index
    with stage_run("index", params) as run:
        embedder = embedding_model(load_model(paths.finetune / MODEL_FILE))
        train = split.read_manifest(paths.split / "train.csv")
        kept, pixels, rejected = decode(train, color_mode, params.data.max_pixels, tuple(image_size))
        vectors = embedder.predict(pixels, batch_size=BATCH_SIZE, verbose=0)
        built = retrieval.build(
            vectors, settings.exact_max, settings.hnsw_neighbors, settings.ef_search, settings.ef_construction
        )
        with atomic_dir(paths.index) as part:
            retrieval.save(
                part,
                built,
                [r.path for r in kept],
                [r.label for r in kept],
                {"image_size": list(image_size), "color_mode": color_mode, "rejected_images": rejected},
            )
            embedder.save(part / retrieval.EMBEDDER_FILE)
        run.log_metrics({"indexed_images": built.ntotal, "rejected_images": rejected, "embedding_dimensions": built.d})
        run.set_tags({"convpipe.index.kind": retrieval.kind(built)})
        run.log_artifacts(paths.index, "index")
        print(
            f"index: {built.ntotal} train images, {built.d}-dimensional embeddings, {retrieval.kind(built)} index "
            f"in {paths.index}" + (f"; {rejected} unreadable image(s) left out" if rejected else "")
        )


if __name__ == "__main__":
    sys.exit(run_main(main, "index"))
