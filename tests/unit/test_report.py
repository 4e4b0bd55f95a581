"""report.md from small report dicts: the numbers, the data summary, both phases and the export table."""

from convpipe.evaluate import report

PER_CLASS = {
    "0": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
    "1": {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1},
}
SPLIT = {
    "accuracy": 0.6667,
    "loss": 0.5,
    "macro_f1": 0.6667,
    "weighted_f1": 0.6667,
    "top_3_accuracy": 1.0,
    "ece": 0.125,
    "per_class": PER_CLASS,
}
METRICS = {"test": SPLIT, "val": {**SPLIT, "accuracy": 0.75}}
DATA = {
    "class_counts": {
        "train": {"0": 5, "1": 7, "total": 12},
        "val": {"0": 1, "1": 1, "total": 2},
        "test": {"0": 2, "1": 1, "total": 3},
    },
    "skipped": [{"path": "raw/0/bad.png", "reason": "truncated file"}],
    "notes": [],
}
EXPORT = {
    "tflite_int8": {
        "accuracy": 0.66,
        "agreement": 0.98,
        "max_abs_diff": 0.02,
        "latency_ms": 0.1,
        "latency_p95_ms": 0.2,
        "size_bytes": 2048,
        "gzip_bytes": 1024,
        "runtime": "LiteRT",
    }
}
CURVE = [
    {"epoch": "1", "phase": "train", "accuracy": "0.5", "val_accuracy": "0.6", "val_loss": "0.9"},
    {"epoch": "2", "phase": "train", "accuracy": "0.7", "val_accuracy": "0.8", "val_loss": "0.4"},
    {"epoch": "3", "phase": "finetune", "accuracy": "0.8", "val_accuracy": "0.85", "val_loss": "0.3"},
]


def render(**changes):
    args = {
        "metrics": METRICS,
        "data": DATA,
        "export": EXPORT,
        "curve": CURVE,
        "figures": ["confusion_matrix.png", "learning_curves.png", "extra_view.png"],
    }
    return report.render(**{**args, **changes})


def test_headline_data_phases_and_export():
    page = render()
    assert "**Test accuracy 66.67%**" in page
    assert "| test | 0.6667 | 1.0000 | 0.6667 | 0.6667 | 0.5000 | 0.1250 | 3 |" in page
    assert "| **total** | **12** | **2** | **3** |" in page
    assert "`raw/0/bad.png`: truncated file" in page
    assert "| train | 2 | 2 | 0.4000 | 0.8000 | 0.7000 |" in page
    assert "| finetune | 1 | 1 | 0.3000 | 0.8500 | 0.8000 |" in page
    assert "| tflite_int8 | LiteRT | 0.6600 | 0.9800 | 0.02 | 2.0 | 1.0 | 0.100 (0.200) |" in page


def test_links_only_the_figures_that_exist_known_ones_first():
    page = render()
    links = [line for line in page.splitlines() if line.startswith("![")]
    assert links == [
        "![learning curves](figures/learning_curves.png)",
        "![confusion_matrix](figures/confusion_matrix.png)",
        "![extra_view](figures/extra_view.png)",
    ]
    assert "gradcam" not in page


def test_tables_are_well_formed():
    tables, current = [], []
    for line in render().splitlines() + [""]:
        if line.startswith("|"):
            current.append(line.count("|"))
        elif current:
            tables.append(current)
            current = []
    # Headline, data, phases, per class, export: every row has as many cells as its header.
    assert len(tables) == 5 and all(len(set(t)) == 1 for t in tables)


def test_without_export_or_top_k():
    page = render(
        export=None, metrics={k: {kk: vv for kk, vv in v.items() if kk != "top_3_accuracy"} for k, v in METRICS.items()}
    )
    assert "No export.json yet" in page and "top-3" not in page


def test_near_duplicates_and_retrieval_are_reported():
    near = {
        "hash": "phash",
        "distance": 8,
        "groups": 3,
        "images_in_groups": 7,
        "groups_with_two_labels": 1,
        "crossed_splits_before_grouping": 2,
        "crossed_splits_after_grouping": 0,
        "listed": [],
    }
    scores = {
        "k": 10,
        "precision_at_k": 0.97,
        "map_at_k": 0.96,
        "knn_accuracy": 0.99,
        "softmax_accuracy": 0.995,
        "index": "exact",
        "indexed_images": 12,
        "queries": 3,
    }
    page = render(data={**DATA, "near_duplicates": near}, metrics={**METRICS, "test": {**SPLIT, "retrieval": scores}})
    assert "**3** group(s) of 7 images, each kept in one split; 2 would have straddled splits" in page
    assert ", 1 hold images of two labels" in page and "![near-duplicate groups](near_duplicates.png)" in page
    assert "| 0.9700 | 0.9600 | 0.9900 | 0.9950 |" in page
    assert "near_duplicates.png" not in render(data={**DATA, "near_duplicates": {**near, "groups": 0}})
    assert "grouping is off" in render(data={**DATA, "near_duplicates": {**near, "distance": 0}})


def test_resolved_values_of_every_stage_are_listed():
    data = {**DATA, "resolved": {"data.image_size": [160, 160], "data.color_mode": "rgb"}}
    page = render(data=data, training={"resolved.train.batch_size": 16, "resolved.finetune.unfreeze": 0.3})
    rows = ["| `data.image_size` | `[160, 160]` |", "| `train.batch_size` | `16` |", "| `finetune.unfreeze` | `0.3` |"]
    assert all(row in page for row in rows)
    assert "Values the stages resolved" not in render()  # reports from before the auto defaults
