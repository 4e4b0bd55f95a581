"""Offline stand-in for a TFDS dataset: its real features, made-up split sizes, random examples."""

import contextlib
from pathlib import Path


@contextlib.contextmanager
def mock_tfds(name: str, data_dir: Path, splits: dict[str, int], num_examples: int):
    """Mock tfds.load(name, data_dir=data_dir) with the given splits, each yielding num_examples examples.

    The installed package ships no dataset metadata, and without it mock_data knows no split names,
    so this writes the builder's own DatasetInfo plus the splits where mock_data looks for them.
    """
    import tensorflow_datasets as tfds

    info = tfds.builder(name, data_dir=str(data_dir)).info
    infos = [
        tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0, filename_template=None) for s, n in splits.items()
    ]
    info.set_splits(tfds.core.SplitDict(infos))
    folder = Path(data_dir) / name / str(info.version)
    folder.mkdir(parents=True, exist_ok=True)
    info.write_to_directory(str(folder))
    with tfds.testing.mock_data(num_examples=num_examples, data_dir=str(data_dir)):
        yield
