"""index: embed the train split with the finetuned model's penultimate layer and index it for search.

Reads params: seed, paths, data.color_mode, data.image_size, data.max_pixels, index, tracking.
Writes: paths.index/index.faiss (exact inner product, or HNSW above index.exact_max), items.csv (path, label
per vector), index.json (kind, size, preprocessing) and embedder.keras (pixels → embedding).
"""
import os
import sys
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf

from convpipe import index, inspect
from convpipe import params as params_module
from convpipe.atomic import atomic_dir
from convpipe.data import records, split
from convpipe.errors import run_main
from convpipe.tracking import stage_run
from convpipe.training import seed_everything

BATCH_SIZE = 256  # images per embedding batch


def decode(members: list[split.Record], color_mode: str, max_pixels: int,
           size: tuple[int, int]) -> tuple[list[split.Record], np.ndarray, int]:
    """The images decoded exactly as the preprocess stage does; files it rejects are left out and counted."""
    kept, pixels = [], []
    for record, image, _ in records.decode_all(members, color_mode, max_pixels, size, os.cpu_count() or 1):
        if image is not None:
            kept.append(record)
            pixels.append(image.astype(np.float32))
    return kept, np.stack(pixels), len(members) - len(kept)


def main() -> None:
    params = params_module.load()
    seed_everything(params.seed)
    data, settings, out_dir = params.data, params.index, Path(params.paths.index)
    with stage_run("index", params) as run:
        model = tf.keras.models.load_model(Path(params.paths.finetune) / "model.keras", safe_mode=True)
        embedder = inspect.embedding_model(model)
        train = split.read_manifest(Path(params.paths.split) / "train.csv")
        kept, pixels, rejected = decode(train, data.color_mode, data.max_pixels, tuple(data.image_size))
        vectors = embedder.predict(pixels, batch_size=BATCH_SIZE, verbose=0)
        built = index.build(vectors, settings.exact_max, settings.hnsw_neighbors, settings.ef_search,
                            settings.ef_construction)
        with atomic_dir(out_dir) as part:
            index.save(part, built, [r.path for r in kept], [r.label for r in kept],
                       {"image_size": list(data.image_size), "color_mode": data.color_mode,
                        "rejected_images": rejected})
            embedder.save(part / index.EMBEDDER_FILE)
        if run:
            mlflow.log_metrics({"indexed_images": built.ntotal, "rejected_images": rejected,
                                "embedding_dimensions": built.d})
            mlflow.set_tag("convpipe.index.kind", index.kind(built))
            mlflow.log_artifacts(str(out_dir), "index")
        print(f"index: {built.ntotal} train images, {built.d}-dimensional embeddings, {index.kind(built)} index "
              f"in {out_dir}" + (f"; {rejected} unreadable image(s) left out" if rejected else ""))


if __name__ == "__main__":
    sys.exit(run_main(main, "index"))
