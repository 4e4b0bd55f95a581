"""evaluate: score the finetuned model on test and val; write metrics, plot data and figures; register it.

Test images also query the index stage's embedding index: precision@k, mAP@k and k-NN accuracy.
Reads params: seed, evaluate, index, tracking.registered_model; and the label_check stage's counts.
Writes: paths.reports/metrics.json (with the label-issue counts as data.label_issues, for the gate),
paths.reports/plots/*.csv (DVC plot data), paths.reports/figures/*.png;
logs all of it to MLflow and registers the model as the `candidate` version of tracking.registered_model.
"""

import json
import sys

from convpipe.core.atomic import atomic_dir, atomic_file
from convpipe.core.errors import run_main
from convpipe.core.params import flatten, load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import shards
from convpipe.evaluate import explain, figures, label_issues, metrics, retrieval
from convpipe.model.embedding import embedding_model
from convpipe.model.history import HISTORY_FILE, read_history
from convpipe.model.saved import MODEL_FILE, load_model
from convpipe.model.seeding import seed_everything
from convpipe.ops import registry


def main() -> None:
    params, paths = load_params(), load_paths()
    seed_everything(params.seed)
    settings = params.evaluate
    names = shards.read_meta(paths.prepared)["class_names"]
    with stage_run("evaluate", params) as run:
        model = load_model(paths.finetune / MODEL_FILE)
        scores, scored = {}, {}
        for split in ("test", "val"):
            images, labels = shards.arrays(paths.prepared, split)
            scored[split] = figures.Scored(
                images, labels, model.predict(images, batch_size=settings.batch_size, verbose=0)
            )
            scores[split] = metrics.classification_metrics(
                labels, scored[split].probabilities, names, settings.top_k, settings.calibration_bins
            )
        test = scored["test"]
        embeddings = embedding_model(model).predict(test.images, batch_size=settings.batch_size, verbose=0)
        index = retrieval.load(paths.index)
        similarities, ids = retrieval.search(index.index, embeddings, params.index.k)
        scores["test"]["retrieval"] = {
            **retrieval.query_metrics(index, [names[i] for i in test.labels], similarities, ids),
            "softmax_accuracy": scores["test"]["accuracy"],
        }
        counts = label_issues.read_counts(paths.reports)
        label_counts = {k: v for k, v in counts.items() if k in ("total", "fraction", "per_class")}
        with atomic_file(paths.reports / "metrics.json") as handle:
            json.dump({**scores, "data": {"label_issues": label_counts}}, handle, indent=2)

        bins = metrics.calibration_bins(test.labels, test.probabilities, settings.calibration_bins)
        history = metrics.learning_curve_rows(
            {phase: read_history(getattr(paths, phase) / HISTORY_FILE) for phase in ("train", "finetune")}
        )
        # Test images come in a fixed order, so the first tsne_points are a stable subsample.
        found = figures.Findings(
            test,
            names,
            metrics.precision_recall_curves(test.labels, test.probabilities, names),
            bins,
            scores["test"]["ece"],
            history,
            explain.tsne_map(embeddings[: settings.tsne_points], params.seed),
        )
        with atomic_dir(paths.reports / "plots") as plot_dir, atomic_dir(paths.reports / "figures") as figure_dir:
            figures.write_plot_data(plot_dir, found)
            figures.draw_figures(figure_dir, model, found, settings)
            figures.draw_neighbours(
                index, found, similarities, ids, params.index.queries_shown, figure_dir / "retrieval.png"
            )

        headline = {
            f"{split}.{key}": value
            for split in scores
            for key, value in scores[split].items()
            if not isinstance(value, (dict, str))
        }
        print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in headline.items() if k.startswith("test.")))
        run.log_metrics(flatten({**scores, "data": {"label_issues": label_counts}}))
        run.log_to_parent(headline)
        for folder in ("plots", "figures"):
            run.log_artifacts(paths.reports / folder, folder)
        run.log_artifact(paths.reports / "metrics.json")
        if run.tracked:  # a registry version belongs to a run
            name = params.tracking.registered_model
            version = registry.register(
                model, name, test.images[:5], {k: v for k, v in headline.items() if k.startswith("test.")}
            )
            print(f"evaluate: registered {name} v{version} as {registry.CANDIDATE!r}")


if __name__ == "__main__":
    sys.exit(run_main(main, "evaluate"))
