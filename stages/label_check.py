"""label_check: find likely mislabelled train and val images from out-of-sample class probabilities.

Features that have not fit the labels (pixels through an RBF map; a pretrained base's pooled ImageNet features,
frozen in the train stage's model, when there is one), k-fold cross-validated probabilities, cleanlab's finder.
Reads params: seed, data.max_pixels, model.arch, model.weights, tracking; the size and colour mode preprocess used
(paths.prepared/meta.json, resolved there when "auto").
Writes: paths.reports/label_issues.csv (ranked suspects), label_issues.json (counts) and label_issues.png.
"""

import os
import sys
from pathlib import Path

import numpy as np

from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import shards, split
from convpipe.evaluate import label_issues, plots
from convpipe.model.architectures import PRETRAINED

CHECKED = ("train", "val")  # test stays untouched: it measures the model, not the labels
SHOWN = 24  # top suspects drawn
BATCH_SIZE = 64  # images per batch through the pretrained base


def decode(
    split_dir: Path, color_mode: str, max_pixels: int, size: tuple[int, int]
) -> tuple[list[split.Record], list[str], np.ndarray]:
    """Train and val images decoded as preprocess does (rejected files left out), with their split names."""
    kept, names, pixels = [], [], []
    for name in CHECKED:
        members = split.read_manifest(split_dir / f"{name}.csv")
        for record, image, _ in shards.decode_all(members, color_mode, max_pixels, size, os.cpu_count() or 1):
            if image is not None:
                kept.append(record)
                names.append(name)
                pixels.append(image)
    return kept, names, np.stack(pixels)


def raw_relative(path: str, raw: Path) -> str:
    """`path` relative to the raw folder, as data.exclude and data.relabel take it (as given when outside it)."""
    return Path(path).relative_to(raw).as_posix() if Path(path).is_relative_to(raw) else path


def base_features(model_file: Path, pixels: np.ndarray) -> np.ndarray:
    """The pretrained base's pooled output (the layer `features`), frozen during the train stage."""
    import tensorflow as tf

    from convpipe.model.precision import float32_copy
    from convpipe.model.saved import load_model

    # TensorFlow only here: with a from-scratch model the stage never imports it (seconds saved per run);
    # the features come from a frozen base in inference mode, so no seeding is needed, and sklearn takes the seed.
    # A float32 copy: a model trained under mixed_bfloat16 returns bfloat16 arrays, which sklearn refuses.
    model = float32_copy(load_model(model_file))
    pooled = tf.keras.Model(model.inputs, model.get_layer("features").output)
    return pooled.predict(pixels.astype(np.float32), batch_size=BATCH_SIZE, verbose=0)


def draw(found: list[label_issues.Suspect], pixels_of: dict[str, np.ndarray], path: Path) -> None:
    """The top suspects, each captioned with its given and suggested labels."""
    top = found[:SHOWN]
    images = np.stack([pixels_of[s.path] for s in top]) if top else np.zeros((0, 1, 1, 1))
    titles = [f"#{s.rank} {s.given_label}→{s.suggested_label}\np={s.self_confidence:.2f}" for s in top]
    plots.image_grid(images, titles, f"Likely mislabelled (given→suggested): top {len(top)} of {len(found)}", path)


def main() -> None:
    params, paths = load_params(), load_paths()
    with stage_run("label_check", params) as run:
        meta = shards.read_meta(paths.prepared)
        size = tuple(meta["image_size"])
        records, split_names, pixels = decode(paths.split, meta["color_mode"], params.data.max_pixels, size)
        names = sorted({r.label for r in records})
        labels = np.array([names.index(r.label) for r in records])
        if params.model.arch in PRETRAINED and params.model.weights != "none":
            features, kind = base_features(paths.train / "model.keras", pixels), f"{params.model.arch} base"
        else:
            features, kind = label_issues.pixel_features(pixels, params.seed), "pixels (Nystroem RBF)"
        probabilities = label_issues.out_of_sample_probabilities(features, labels, params.seed)
        relative = [raw_relative(r.path, paths.raw) for r in records]
        found = label_issues.suspects(
            label_issues.find(probabilities, labels), probabilities, labels, names, relative, split_names
        )
        counts = label_issues.summary(found, len(records), names, kind)
        paths.reports.mkdir(parents=True, exist_ok=True)
        label_issues.write(found, counts, paths.reports)
        figure = paths.reports / label_issues.REPORT_FIGURE
        draw(found, {s.path: pixels[relative.index(s.path)] for s in found[:SHOWN]}, figure)
        run.log_metrics({"label_issues": counts["total"], "label_issues_fraction": counts["fraction"]})
        for name in (label_issues.REPORT_CSV, label_issues.REPORT_JSON, label_issues.REPORT_FIGURE):
            run.log_artifact(paths.reports / name, "label_issues")
        print(
            f"label_check: {counts['total']} of {len(records)} train/val images look mislabelled "
            f"({counts['fraction']:.2%}, features: {kind}); see {paths.reports / label_issues.REPORT_CSV}"
        )


if __name__ == "__main__":
    sys.exit(run_main(main, "label_check"))
