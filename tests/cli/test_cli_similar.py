"""`convpipe similar`: a near-copy finds its original first, bad files get an error line, --json parses."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_sample_images

from convpipe.cli import main
from convpipe.core.params import Model
from convpipe.evaluate import retrieval
from convpipe.model.builders import build_model
from convpipe.model.embedding import embedding_model


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """24 distinct 80×80 tiles of a real photo, indexed with an untrained small convnet's embeddings (32×32 RGB),
    as the index stage would save them."""
    root = tmp_path_factory.mktemp("similar")
    photo = load_sample_images().images[0]
    tiles = [photo[top : top + 80, left : left + 80] for top in range(0, 320, 80) for left in range(0, 480, 80)]
    paths = []
    for i, tile in enumerate(tiles):
        paths.append(root / "train" / f"tile-{i:02d}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(tile).save(paths[-1])
    tf.keras.utils.set_random_seed(0)
    embedder = embedding_model(build_model(Model(arch="small_convnet", filters=[8, 16], dropout=0.0), (32, 32, 3), 4))
    pixels = np.stack([np.asarray(Image.fromarray(t).resize((32, 32), Image.BILINEAR), np.float32) for t in tiles])
    built = retrieval.build(embedder.predict(pixels, verbose=0), exact_max=1000)
    out = root / "index"
    retrieval.save(
        out,
        built,
        [str(p) for p in paths],
        [f"row{i // 6}" for i in range(24)],
        {"image_size": [32, 32], "color_mode": "rgb"},
    )
    embedder.save(out / retrieval.EMBEDDER_FILE)
    return root, tiles


def near_copies(root, tiles) -> dict:
    """Altered copies of three tiles: doubled in size, JPEG re-encoded at quality 30, brightened a little."""
    queries = root / "queries"
    queries.mkdir(exist_ok=True)
    Image.fromarray(tiles[3]).resize((160, 160), Image.LANCZOS).save(queries / "big-03.png")
    Image.fromarray(tiles[10]).save(queries / "jpeg-10.jpg", quality=30)
    Image.fromarray(np.clip(tiles[17].astype(int) + 8, 0, 255).astype(np.uint8)).save(queries / "bright-17.png")
    return {"big-03.png": 3, "jpeg-10.jpg": 10, "bright-17.png": 17}


def test_each_near_copy_finds_its_original_first(indexed, capsys):
    root, tiles = indexed
    expected = near_copies(root, tiles)
    assert main(["similar", str(root / "queries"), "-k", "3", "--index", str(root / "index"), "--json"]) == 0
    answers = {a["path"].rsplit("/", 1)[1]: a["similar"] for a in json.loads(capsys.readouterr().out)}
    assert set(answers) == set(expected)
    for name, tile in expected.items():
        assert len(answers[name]) == 3
        assert answers[name][0]["path"].endswith(f"tile-{tile:02d}.png"), (name, answers[name])
        assert answers[name][0]["label"] == f"row{tile // 6}"
        assert answers[name][0]["similarity"] > 0.98
        assert answers[name][0]["similarity"] >= answers[name][1]["similarity"]


def test_a_bad_file_gets_an_error_and_the_rest_are_answered(indexed, capsys):
    root, tiles = indexed
    near_copies(root, tiles)
    (root / "broken.png").write_bytes(b"not an image")
    code = main(
        ["similar", str(root / "broken.png"), str(root / "queries" / "big-03.png"), "--index", str(root / "index")]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{root / 'broken.png'}: error:" in err
    lines = out.splitlines()
    assert lines[0] == f"{root / 'queries' / 'big-03.png'}:"
    assert len(lines) == 6 and lines[1].startswith("  1. ") and "tile-03.png  label row0  similarity" in lines[1]


def test_a_missing_index_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["similar", str(tmp_path), "--index", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("convpipe similar: error: ")
