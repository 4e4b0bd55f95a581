"""Export a TensorFlow Datasets image-classification dataset into the raw layout as PNG files."""

from collections import Counter
from pathlib import Path

from PIL import Image

from convpipe.data.folder_source import SPLIT_DIRS, class_folder_names, require_empty
from convpipe.data.layout import write_source_splits


def export_tfds(
    name: str, raw_dir: Path, data_dir: str | None, keep_source_splits: bool, max_per_class: int | None
) -> dict[str, int]:
    """Write each example as raw_dir/<class>/<split>-<index>.png; return {class folder: count}.

    max_per_class caps each class within each split, so a capped test split is not left empty.
    """
    import tensorflow_datasets as tfds  # slow (it imports TensorFlow); only this source needs it

    raw_dir = Path(raw_dir)
    require_empty(raw_dir)
    datasets, info = tfds.load(name, data_dir=data_dir, with_info=True, as_supervised=False, shuffle_files=False)
    image_key, label_key = _find_features(name, info.features, tfds.features)
    classes = class_folder_names(name, info.features[label_key].names)
    unknown = sorted(set(datasets) - SPLIT_DIRS.keys())
    if keep_source_splits and unknown:
        raise ValueError(f"{name}: splits {unknown} are not train, validation or test; set keep_source_splits to false")
    for folder in classes:
        (raw_dir / folder).mkdir(parents=True, exist_ok=True)
    counts, rows = Counter(), []
    for split in sorted(datasets):  # dict order is not guaranteed to be the same across TFDS versions
        in_split = Counter()
        for index, example in enumerate(tfds.as_numpy(datasets[split])):
            label = int(example[label_key])
            if not 0 <= label < len(classes):
                expected = f"0..{len(classes) - 1}"
                raise ValueError(f"{name}: example {index} of split {split!r} has label {label}; expected {expected}")
            if max_per_class is not None and in_split[label] >= max_per_class:
                if len(in_split) == len(classes) and min(in_split.values()) >= max_per_class:
                    break  # every class is full: no need to read the rest of a large split
                continue
            in_split[label] += 1
            relpath = f"{classes[label]}/{split}-{index}.png"
            _save_png(example[image_key], raw_dir / relpath)
            rows.append((relpath, SPLIT_DIRS.get(split)))
        counts.update({classes[label]: n for label, n in in_split.items()})
    # Only worth recording when there is more than one split to honour.
    if keep_source_splits and len(datasets) > 1:
        write_source_splits(raw_dir, rows)
    return {folder: counts[folder] for folder in classes}


def _find_features(name: str, features, tfds_features) -> tuple[str, str]:
    """Return the keys of the single Image feature and the ClassLabel feature (preferring "label")."""
    images = [k for k, f in features.items() if isinstance(f, tfds_features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds_features.ClassLabel)]
    if len(labels) > 1 and "label" in labels:
        labels = ["label"]  # e.g. cifar100 also has "coarse_label"
    if len(images) != 1 or len(labels) != 1:
        found = {k: type(f).__name__ for k, f in features.items()}
        raise ValueError(f"{name}: needs exactly one Image and one ClassLabel feature; its features are {found}")
    return images[0], labels[0]


def _save_png(array, path: Path) -> None:
    # Pillow wants (H, W) for one channel; TFDS gives (H, W, 1).
    Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array).save(path)
