"""export: convert the finetuned model to each deployment format and measure every artifact on test.

Reads params: seed, paths, export, tracking.
Writes: paths.export/ (one file or folder per artifact, labels.txt) and paths.reports/export.json.
"""
import json
import shutil
import sys
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf

from convpipe import export
from convpipe import params as params_module
from convpipe.data import records
from convpipe.errors import run_main
from convpipe.tracking import stage_run
from convpipe.training import seed_everything


def representative_images(prepared: Path, count: int, seed: int) -> np.ndarray:
    """`count` train images in a seeded random order, for int8 calibration."""
    images, _ = records.arrays(prepared, "train")
    return images[np.random.default_rng(seed).permutation(len(images))[:count]]


def main() -> None:
    params = params_module.load()
    seed_everything(params.seed)
    prepared, out_dir, settings = Path(params.paths.prepared), Path(params.paths.export), params.export
    with stage_run("export", params):
        model_path = Path(params.paths.finetune) / "model.keras"
        model = tf.keras.models.load_model(model_path, safe_mode=True)
        images, labels = records.arrays(prepared, "test")
        reference = model.predict(images, batch_size=256, verbose=0)
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        (out_dir / "labels.txt").write_text("\n".join(records.read_meta(prepared)["class_names"]) + "\n",
                                            encoding="utf-8")
        calibration = representative_images(prepared, settings.representative_samples, params.seed)
        table = {"keras": _row(model_path, images, labels, reference, settings.latency_runs)}
        for kind in settings.formats:
            path = export.build(model, kind, out_dir, calibration, settings.onnx_opset)
            table[kind] = _row(path, images, labels, reference, settings.latency_runs)
            print(f"export: {kind:<15} accuracy {table[kind]['accuracy']:.4f}  "
                  f"{table[kind]['size_bytes'] / 1024:8.1f} KiB  {table[kind]['latency_ms']:.3f} ms")
        with open(Path(params.paths.reports) / "export.json", "w", encoding="utf-8") as handle:
            json.dump(table, handle, indent=2)
        mlflow.log_metrics({f"{kind}.{key}": value for kind, row in table.items()
                            for key, value in row.items() if isinstance(value, (int, float))})
        mlflow.log_artifact(str(Path(params.paths.reports) / "export.json"))
        mlflow.log_artifacts(str(out_dir), "export")


def _row(path: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray, runs: int) -> dict:
    runner, runtime = export.load_runner(path)
    return {**export.measure(runner, images, labels, reference, runs),
            "size_bytes": export.size_bytes(path), "runtime": runtime}


if __name__ == "__main__":
    sys.exit(run_main(main, "export"))
