"""reports/report.md: one Markdown page over the pipeline's JSON reports and figures, readable on GitHub."""

from __future__ import annotations

# Figure file (in reports/figures/) → what it shows, in the order the report shows them.
FIGURES = {
    "learning_curves.png": "Learning curves: loss and accuracy per epoch, train vs val; the dashed line is where "
    "finetuning starts.",
    "confusion_matrix.png": "Confusion matrix on test, as counts and normalised by true class.",
    "precision_recall.png": "Precision-recall curve of each class against the rest, with its average precision.",
    "reliability.png": "Reliability diagram: accuracy against top-1 confidence per confidence bin; bars below "
    "the diagonal are over-confident.",
    "misclassified.png": "The most confidently misclassified test images: true class → predicted (confidence).",
    "gradcam.png": "Grad-CAM: the regions of the last feature map that raise the predicted class's score.",
    "filters.png": "The first convolution's filters.",
    "tsne.png": "t-SNE map of the penultimate layer's embeddings of the test images, coloured by true class.",
    "retrieval.png": "Image search: test images (left) and their five nearest training images in the embedding "
    "index, with label and cosine similarity.",
}
SKIPPED_SHOWN = 20  # skipped files listed by name; the rest are counted


def _number(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def headline(metrics: dict) -> list[str]:
    """Accuracy, top-k accuracy, F1, loss and ECE per split."""
    topk = next((key for key in metrics["test"] if key.startswith("top_")), None)
    header = (
        ["split", "accuracy"]
        + ([topk.replace("_", "-", 1).replace("_", " ")] if topk else [])
        + ["macro F1", "weighted F1", "loss", "ECE", "images"]
    )
    rows = [
        [split, _number(m["accuracy"])]
        + ([_number(m.get(topk))] if topk else [])
        + [
            _number(m["macro_f1"]),
            _number(m["weighted_f1"]),
            _number(m["loss"]),
            _number(m["ece"]),
            sum(c["support"] for c in m["per_class"].values()),
        ]
        for split, m in metrics.items()
        if split in ("train", "val", "test")  # not data.label_issues (counts, not scores)
    ]
    return _table(header, rows)


def retrieval(scores: dict | None) -> list[str]:
    """The embedding index's search quality on test queries, beside the softmax accuracy."""
    if not scores:
        return []
    k = scores["k"]
    return [
        "",
        f"Test images as queries of the {scores['index']} index of {scores['indexed_images']} training "
        "images (penultimate-layer embeddings, cosine similarity; relevant = same label):",
        "",
        *_table(
            [f"precision@{k}", f"mAP@{k}", f"{k}-NN accuracy", "softmax accuracy"],
            [
                [
                    _number(scores["precision_at_k"]),
                    _number(scores["map_at_k"]),
                    _number(scores["knn_accuracy"]),
                    _number(scores["softmax_accuracy"]),
                ]
            ],
        ),
    ]


def per_class(metrics: dict) -> list[str]:
    """Precision, recall, F1 and support of each class on test."""
    return _table(
        ["class", "precision", "recall", "F1", "support"],
        [
            [name, _number(c["precision"], 3), _number(c["recall"], 3), _number(c["f1"], 3), c["support"]]
            for name, c in metrics["test"]["per_class"].items()
        ],
    )


def data_summary(data: dict) -> list[str]:
    """Images per class and split, then every skipped file with its reason."""
    counts = data["class_counts"]
    splits = list(counts)
    names = [name for name in counts[splits[0]] if name != "total"]
    lines = _table(
        ["class", *splits],
        [[name, *(counts[s].get(name, 0) for s in splits)] for name in names]
        + [["**total**", *(f"**{counts[s]['total']}**" for s in splits)]],
    )
    skipped = data.get("skipped", [])
    lines += ["", f"Skipped files: **{len(skipped)}**" + (":" if skipped else " (every listed image was used).")]
    lines += [f"- `{s['path']}`: {s['reason']}" for s in skipped[:SKIPPED_SHOWN]]
    if len(skipped) > SKIPPED_SHOWN:
        lines.append(f"- … and {len(skipped) - SKIPPED_SHOWN} more (see `data.json`)")
    lines += near_duplicates(data.get("near_duplicates"))
    if data.get("notes"):
        lines.append(
            f"\nImages used after a fix-up (e.g. EXIF rotation, palette): {len(data['notes'])} (see `data.json`)."
        )
    return lines


def mislabelled(counts: dict | None, suspects: list[dict]) -> list[str]:
    """How many train/val images the label_check stage doubts, the top rows and the picture of the top ones."""
    if not counts:
        return []
    lines = [
        "",
        f"Likely mislabelled train/val images (label_check, confident learning on out-of-sample probabilities): "
        f"**{counts['total']}** ({counts['fraction']:.2%}); review them in `label_issues.csv`, then exclude or "
        "relabel them with `data.exclude` / `data.relabel`.",
    ]
    if suspects:
        lines += [
            "",
            *_table(
                ["rank", "path", "split", "given", "suggested", "self-confidence"],
                [
                    [
                        s["rank"],
                        f"`{s['path']}`",
                        s["split"],
                        s["given_label"],
                        s["suggested_label"],
                        s["self_confidence"],
                    ]
                    for s in suspects
                ],
            ),
            "",
            "![likely mislabelled images](label_issues.png)",
        ]
    return lines


def near_duplicates(near: dict | None) -> list[str]:
    """How many near-duplicate groups the split kept together, and the picture of a few."""
    if not near:
        return []
    if near["distance"] == 0:
        return ["", "Near-duplicate grouping is off (`data.near_duplicate_distance: 0`)."]
    lines = [
        "",
        f"Near-duplicates ({near['hash']}, at most {near['distance']} bit(s) apart): **{near['groups']}** "
        f"group(s) of {near['images_in_groups']} images, each kept in one split; "
        f"{near['crossed_splits_before_grouping']} would have straddled splits without grouping"
        + (f", {near['groups_with_two_labels']} hold images of two labels" if near["groups_with_two_labels"] else "")
        + " (see `data.json`).",
    ]
    if near["groups"]:
        lines += ["", "![near-duplicate groups](near_duplicates.png)"]
    return lines


def phases(curve: list[dict]) -> list[str]:
    """Per training phase: epochs run, the best epoch by val loss, and its val loss and accuracy."""
    rows = []
    for phase in dict.fromkeys(row["phase"] for row in curve):
        epochs = [row for row in curve if row["phase"] == phase]
        best = min(epochs, key=lambda row: float(row["val_loss"]))
        rows.append(
            [
                phase,
                len(epochs),
                epochs.index(best) + 1,
                _number(float(best["val_loss"])),
                _number(float(best["val_accuracy"])),
                _number(float(epochs[-1]["accuracy"])),
            ]
        )
    if not rows:
        return ["No training history found."]
    return _table(
        ["phase", "epochs run", "best epoch (val loss)", "best val loss", "val accuracy there", "last train accuracy"],
        rows,
    )


def resolved_values(resolved: dict) -> list[str]:
    """The value each "auto" param (and each param the stages resolve) took in this run."""
    if not resolved:
        return []
    rows = [[f"`{key.removeprefix('resolved.')}`", f"`{value}`"] for key, value in resolved.items()]
    return [
        "Values the stages resolved (from `auto` defaults, see params.yaml):",
        "",
        *_table(["param", "value"], rows),
    ]


def exports(table: dict) -> list[str]:
    """Each exported artifact: runtime, accuracy, agreement with Keras, sizes and latency; or why it was skipped."""
    header = [
        "artifact",
        "runtime",
        "accuracy",
        "agreement with Keras",
        "max abs Δp",
        "size (KiB)",
        "gzip (KiB)",
        "latency ms (p95)",
    ]
    rows = []
    for kind, row in table.items():
        if "skipped" in row:
            rows.append([kind, f"skipped: {row['skipped']}"] + [""] * (len(header) - 2))
            continue
        rows.append(
            [
                kind,
                row.get("runtime", "—"),
                _number(row.get("accuracy")),
                _number(row.get("agreement")),
                f"{row['max_abs_diff']:.2g}" if "max_abs_diff" in row else "—",
                *(f"{row[key] / 1024:.1f}" if key in row else "—" for key in ("size_bytes", "gzip_bytes")),
                f"{row['latency_ms']:.3f} ({row['latency_p95_ms']:.3f})" if "latency_p95_ms" in row else "—",
            ]
        )
    return _table(header, rows)


def render(
    metrics: dict,
    data: dict,
    export: dict | None,
    curve: list[dict],
    figures: list[str],
    training: dict | None = None,
    suspects: list[dict] = (),
) -> str:
    """The whole page; `figures` are the PNG file names present in reports/figures/; `training` the values the
    train and finetune stages resolved (resolved.<section>.<key> → value); `suspects` the top rows of
    label_issues.csv."""
    test = metrics["test"]
    lines = [
        "# convpipe report",
        "",
        f"**Test accuracy {test['accuracy']:.2%}**, macro F1 {test['macro_f1']:.4f}, "
        f"expected calibration error {test['ece']:.4f}. Numbers: [metrics.json](metrics.json), "
        "[data.json](data.json), [export.json](export.json); plot data in [plots/](plots/).",
        "",
        "## Headline metrics",
        "",
        *headline(metrics),
        *retrieval(test.get("retrieval")),
        "",
        "## Data",
        "",
        *data_summary(data),
        *mislabelled(metrics.get("data", {}).get("label_issues"), suspects),
        "",
        *resolved_values({**{f"resolved.{k}": v for k, v in data.get("resolved", {}).items()}, **(training or {})}),
        "",
        "## Training",
        "",
        "Train (new model), then finetune (top layers unfrozen, lower learning rate):",
        "",
        *phases(curve),
    ]
    ordered = [name for name in FIGURES if name in figures] + sorted(set(figures) - set(FIGURES))
    if "learning_curves.png" in ordered:
        lines += ["![learning curves](figures/learning_curves.png)", "", FIGURES["learning_curves.png"], ""]
    lines += ["## Where it fails, and why", "", "Per class on test:", "", *per_class(metrics), ""]
    for name in ordered:
        if name != "learning_curves.png":
            lines += [f"![{name[:-4]}](figures/{name})", "", FIGURES.get(name, name[:-4].replace("_", " ")), ""]
    lines += ["## Export", ""]
    lines += exports(export) if export else ["No export.json yet (run the export stage)."]
    return "\n".join(lines) + "\n"
