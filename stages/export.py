"""export: convert the finetuned model to each deployment format and measure every artifact on test.

Conversion and the reference predictions work from a float32 copy of the model (it may have trained in
mixed precision). QAT and pruning tune in float32 whatever export.tune_precision resolves to: TFMOT's
wrappers do not run under a mixed policy (their float32 weights meet 16-bit inputs).
Reads params: seed, export, tracking.
Writes: paths.export/ (one file or folder per artifact, labels.txt, preprocessing.json) and
paths.reports/export.json: {artifact: measurements} with a "keras" reference row, and
{"skipped": reason} for an artifact TFMOT could not produce; the pruned row adds its sparsity.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

from convpipe.core.atomic import atomic_dir, atomic_file
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import shards
from convpipe.evaluate.report import exports
from convpipe.export import convert, description, tfmot
from convpipe.export.measure import measure
from convpipe.model import precision
from convpipe.model.saved import MODEL_FILE, load_model
from convpipe.model.seeding import seed_everything


def representative_images(prepared: Path, count: int, seed: int) -> np.ndarray:
    """`count` train images in a seeded random order, for int8 calibration."""
    images, _ = shards.arrays(prepared, "train")
    return images[np.random.default_rng(seed).permutation(len(images))[:count]]


def tuning_data(prepared: Path, batch_size: int, seed: int) -> tfmot.TuningData:
    """Shuffled train batches for QAT and pruning, and how many make an epoch."""
    total = shards.read_meta(prepared)["counts"]["train"]["total"]
    return tfmot.TuningData(
        shards.dataset(prepared, "train", batch_size, shuffle_seed=seed), math.ceil(total / batch_size)
    )


def main() -> None:
    params, paths = load_params(), load_paths()
    seed_everything(params.seed)
    settings = params.export
    # out_dir is a temporary sibling of paths.export, renamed into place when the stage succeeds.
    with stage_run("export", params) as run, atomic_dir(paths.export) as out_dir:
        model_path = paths.finetune / MODEL_FILE
        model = precision.float32_copy(load_model(model_path))
        tune_policy = precision.resolve(settings.tune_precision)
        run.log_params({"resolved.export.tune_precision": tune_policy, "export.tune_precision_used": "float32"})
        if tune_policy != "float32":
            print(f"export: tune_precision {tune_policy}: TFMOT tunes in float32 only")
        images, labels = shards.arrays(paths.prepared, "test")
        reference = model.predict(images, batch_size=256, verbose=0)
        meta = shards.read_meta(paths.prepared)
        description.write_description(out_dir, meta["image_size"], meta["channels"], meta["class_names"])
        calibration = representative_images(paths.prepared, settings.representative_samples, params.seed)
        tuning = tuning_data(paths.prepared, settings.tune_batch_size, params.seed)
        table = {"keras": measure(model_path, images, labels, reference, settings.latency_runs)}
        for kind in settings.formats:
            try:
                source = tfmot.source_model(model, kind, tuning, settings)
            except tfmot.UnsupportedModel as err:
                table[kind] = {"skipped": str(err)}
                print(f"export: {kind:<18} skipped: {err}", file=sys.stderr)
                continue
            path = convert.build(source, kind, out_dir, calibration, settings.onnx_opset)
            table[kind] = {
                **measure(path, images, labels, reference, settings.latency_runs),
                **tfmot.extra_measures(source, kind),
            }
            print(
                f"export: {kind:<18} accuracy {table[kind]['accuracy']:.4f}  "
                f"{table[kind]['size_bytes'] / 1024:8.1f} KiB  {table[kind]['latency_ms']:.3f} ms"
            )
        with atomic_file(paths.reports / "export.json") as handle:
            json.dump(table, handle, indent=2)
        summary = "\n".join(exports(table)) + "\n"
        print(summary)
        run.log_metrics({f"{kind}.{key}": value for kind, row in table.items() for key, value in row.items()})
        run.set_tags({f"skipped.{kind}": row["skipped"] for kind, row in table.items() if "skipped" in row})
        run.log_text(summary, "export.md")
        run.log_artifact(paths.reports / "export.json")
        run.log_artifacts(out_dir, "export")


if __name__ == "__main__":
    sys.exit(run_main(main, "export"))
