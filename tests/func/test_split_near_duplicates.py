"""The split stage on real photo tiles with planted near-copies: groups land in one split, data is reported."""

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

from convpipe.data import layout
from tests.project import set_params

ROOT = Path(__file__).resolve().parents[2]


def test_split_stage_groups_near_copies_and_reports_them(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    set_params(tmp_path, data={"near_duplicate_distance": 8})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    raw = Path("data/raw")
    for index, pixels in enumerate(load_sample_images().images):  # class 0: china, class 1: flower
        folder = raw / str(index)
        folder.mkdir(parents=True)
        tiles = [pixels[top : top + 128, left : left + 128] for top in (0, 128, 256) for left in range(0, 512, 128)]
        for i, tile in enumerate(tiles):
            Image.fromarray(tile).save(folder / f"tile-{i:02d}.png")
        # Near-copies of every tile but the last: half size, and JPEG at quality 20.
        for i, tile in enumerate(tiles[:-1]):
            Image.fromarray(tile).resize((64, 64), Image.LANCZOS).save(folder / f"tile-{i:02d}-small.png")
            Image.fromarray(tile).save(folder / f"tile-{i:02d}-q20.jpg", quality=20)
    layout.write_download_report(raw, {"skipped": []})
    from stages import split as split_stage

    split_stage.main()
    near = json.loads(Path("data/split/summary.json").read_text())["near_duplicates"]
    assert near["crossed_splits_before_grouping"] > 0 and near["crossed_splits_after_grouping"] == 0
    assert near["groups_with_two_labels"] == 0
    for group in near["listed"]:
        assert len(group["split"]) == 1 and len({Path(p).name[:7] for p in group["paths"]}) == 1
        assert all(0 <= d <= 8 for _, _, d in group["pairs"])
    # {(class, original tile): size of the group it is in}; originals are named tile-NN.png.
    grouped_with_original = {
        (Path(p).parent.name, Path(p).stem): len(group["paths"])
        for group in near["listed"]
        for p in group["paths"]
        if Path(p).stem.count("-") == 1
    }
    # Every tile with its two copies, except the flat sky tile of china (pixel std 10), whose pHash moves
    # 10 bits when halved and 16 when JPEG-compressed. Flower tile 4's JPEG copy is 10 bits from the original
    # but joins through the half-size copy: groups are linked chains, not balls.
    assert grouped_with_original.pop(("0", "tile-03"), 1) == 1
    assert sorted(grouped_with_original.values()) == [3] * 21
    assert near["groups"] == 21
    with Image.open("reports/near_duplicates.png") as figure:
        assert min(figure.size) > 200 and np.asarray(figure.convert("L")).std() > 10
