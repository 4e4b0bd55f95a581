"""evaluate: score the finetuned model on test and val; write metrics, plot data and figures; register it.

Test images also query the index stage's embedding index: precision@k, mAP@k and k-NN accuracy.
Reads params: seed, paths, evaluate, index, tracking.
Writes: paths.reports/metrics.json, paths.reports/plots/*.csv (DVC plot data), paths.reports/figures/*.png;
logs all of it to MLflow and registers the model as the `candidate` version of tracking.registered_model.
"""
import csv
import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf

from convpipe import evaluation, index, inspect, plots, registry
from convpipe import params as params_module
from convpipe.atomic import atomic_dir, atomic_file
from convpipe.data import records
from convpipe.data.images import load_image, resize
from convpipe.errors import run_main
from convpipe.params import flatten
from convpipe.tracking import log_to_parent, stage_run
from convpipe.training import HISTORY_FILE, read_history, seed_everything

HEADLINE = ("accuracy", "loss", "macro_f1", "weighted_f1", "ece")


def write_rows(rows: list[dict], path: Path) -> None:
    """A list of flat dicts as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def caption(names: list[str], true: int, predicted: int, confidence: float) -> str:
    """'true 3 → 8 (0.97)' for a grid cell."""
    return f"true {names[true]} → {names[predicted]} ({confidence:.2f})"


def write_plot_data(out: Path, test: dict, curves: dict, bins: list[dict], history: list[dict],
                    tsne: np.ndarray, names: list[str]) -> None:
    """The CSV files that dvc.yaml's plots: draw."""
    write_rows(evaluation.confusion_rows(test["labels"], test["predicted"], names), out / "confusion.csv")
    write_rows(history, out / "learning_curve.csv")
    write_rows(evaluation.precision_recall_rows(curves), out / "precision_recall.csv")
    write_rows(bins, out / "reliability.csv")
    write_rows([{"x": float(x), "y": float(y), "class": names[label]}
                for (x, y), label in zip(tsne, test["labels"][:len(tsne)])], out / "tsne.csv")


def draw_figures(out: Path, model, test: dict, curves: dict, bins: list[dict], ece: float,
                 history: list[dict], tsne: np.ndarray, names: list[str], settings) -> None:
    """Every PNG of the report."""
    labels, probabilities, images = test["labels"], test["probabilities"], test["images"]
    plots.learning_curves(history, out / "learning_curves.png")
    plots.confusion_matrices(evaluation.confusion_counts(labels, test["predicted"], len(names)), names,
                             out / "confusion_matrix.png")
    plots.precision_recall(curves, out / "precision_recall.png")
    plots.reliability(bins, settings.calibration_bins, ece, out / "reliability.png")
    worst = evaluation.worst_misclassified(labels, probabilities, settings.worst_images)
    plots.image_grid(images[worst], [caption(names, labels[i], test["predicted"][i], probabilities[i].max())
                                     for i in worst],
                     f"Most confident mistakes: {len(worst)} of {int((test['predicted'] != labels).sum())} "
                     "misclassified test images", out / "misclassified.png")
    # The first test image of each class, so every class gets explained once.
    sample = np.sort(np.unique(labels, return_index=True)[1])[:settings.gradcam_images]
    heatmaps = inspect.gradcam(model, images[sample], test["predicted"][sample])
    plots.gradcam_grid(images[sample], heatmaps, [caption(names, labels[i], test["predicted"][i],
                                                          probabilities[i].max()) for i in sample],
                       out / "gradcam.png")
    plots.filters(inspect.first_conv_kernel(model), out / "filters.png")
    plots.tsne(tsne, labels[:len(tsne)], names, out / "tsne.png")


def draw_neighbours(loaded: index.Loaded, test: dict, names: list[str], similarities: np.ndarray,
                    ids: np.ndarray, count: int, path: Path) -> None:
    """The first test image of each class (up to `count`) and its five nearest training images."""
    size, mode = tuple(loaded.info["image_size"]), loaded.info["color_mode"]
    shown = np.sort(np.unique(test["labels"], return_index=True)[1])[:count]
    rows, captions = [], []
    for q in shown:
        top = [i for i in ids[q][:5] if i >= 0]
        # No pixel limit: the index stage has decoded these very files under data.max_pixels already.
        rows.append([test["images"][q]] + [resize(load_image(Path(loaded.paths[i]), mode, 10**12)[0], size)
                                           .astype(np.float32) for i in top])
        captions.append([f"query: {names[test['labels'][q]]}"] +
                        [f"{loaded.labels[i]} ({sim:.3f})" for i, sim in zip(top, similarities[q])])
    plots.image_rows(rows, captions, "Test queries (left) and their nearest training images: label (cosine "
                     "similarity)", path)


def main() -> None:
    params = params_module.load()
    seed_everything(params.seed)
    settings, prepared, reports = params.evaluate, Path(params.paths.prepared), Path(params.paths.reports)
    names = records.read_meta(prepared)["class_names"]
    with stage_run("evaluate", params) as run:
        model = tf.keras.models.load_model(Path(params.paths.finetune) / "model.keras", safe_mode=True)
        metrics, splits = {}, {}
        for split in ("test", "val"):
            images, labels = records.arrays(prepared, split)
            probabilities = model.predict(images, batch_size=settings.batch_size, verbose=0)
            splits[split] = {"images": images, "labels": labels, "probabilities": probabilities,
                             "predicted": probabilities.argmax(axis=1)}
            metrics[split] = evaluation.classification_metrics(labels, probabilities, names, settings.top_k,
                                                               settings.calibration_bins)
        test = splits["test"]
        embeddings = inspect.embedding_model(model).predict(test["images"], batch_size=settings.batch_size,
                                                            verbose=0)
        loaded = index.load(Path(params.paths.index))
        similarities, ids = index.search(loaded.index, embeddings, params.index.k)
        metrics["test"]["retrieval"] = {**index.query_metrics(loaded, [names[i] for i in test["labels"]], similarities,
                                                              ids), "softmax_accuracy": metrics["test"]["accuracy"]}
        with atomic_file(reports / "metrics.json") as handle:
            json.dump(metrics, handle, indent=2)

        curves = evaluation.precision_recall_curves(test["labels"], test["probabilities"], names)
        bins = evaluation.calibration_bins(test["labels"], test["probabilities"], settings.calibration_bins)
        history = evaluation.learning_curve_rows({phase: read_history(Path(getattr(params.paths, phase)) / HISTORY_FILE)
                                                  for phase in ("train", "finetune")})
        # Test images come in a fixed order, so the first tsne_points are a stable subsample.
        tsne = inspect.tsne_map(embeddings[:settings.tsne_points], params.seed)
        with atomic_dir(reports / "plots") as plot_dir, atomic_dir(reports / "figures") as figure_dir:
            write_plot_data(plot_dir, test, curves, bins, history, tsne, names)
            draw_figures(figure_dir, model, test, curves, bins, metrics["test"]["ece"], history, tsne,
                         names, settings)
            draw_neighbours(loaded, test, names, similarities, ids, params.index.queries_shown,
                            figure_dir / "retrieval.png")

        headline = {f"{split}.{key}": value for split in metrics for key, value in metrics[split].items()
                    if not isinstance(value, (dict, str))}
        print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in headline.items() if k.startswith("test.")))
        if run:
            mlflow.log_metrics({key: value for key, value in flatten(metrics).items() if not isinstance(value, str)})
            log_to_parent(run, headline)
            for folder in ("plots", "figures"):
                mlflow.log_artifacts(str(reports / folder), folder)
            mlflow.log_artifact(str(reports / "metrics.json"))
            version = registry.register(model, params.tracking.registered_model, test["images"][:5],
                                        {k: v for k, v in headline.items() if k.startswith("test.")})
            print(f"evaluate: registered {params.tracking.registered_model} v{version} as {registry.CANDIDATE!r}")


if __name__ == "__main__":
    sys.exit(run_main(main, "evaluate"))
