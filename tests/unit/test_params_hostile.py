"""Hostile params.yaml: every bad file or value is refused with a message naming the key or the file."""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from convpipe.core import params

ROOT = Path(__file__).resolve().parents[2]
with open(ROOT / "params.yaml", encoding="utf-8") as handle:
    GOOD = yaml.safe_load(handle)
GOOD_TEXT = (ROOT / "params.yaml").read_text(encoding="utf-8")

# Substituted for every leaf value in turn: each is either valid there or refused naming that key.
HOSTILE = [
    None,
    -1,
    0,
    10**9,
    10**100,
    -(10**100),
    1e308,
    float("nan"),
    float("inf"),
    True,
    0.5,
    "",
    "x" * 5000,
    "../../etc",
    "/tmp",
    [],
    [100_000, 100_000],
    {},
    {"a": 1},
    "1e3",
]


def leaves(tree: dict, prefix: tuple = ()) -> list[tuple]:
    """Key paths of every value in tree, containers included."""
    found = []
    for key, value in tree.items():
        found.append(prefix + (key,))
        if isinstance(value, dict):
            found += leaves(value, prefix + (key,))
    return found


def replaced(keys: tuple, value) -> dict:
    raw = copy.deepcopy(GOOD)
    node = raw
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return raw


@pytest.mark.parametrize("keys", leaves(GOOD), ids=".".join)
def test_every_hostile_value_is_refused_by_key_or_accepted(keys):
    for value in HOSTILE:
        try:
            params.parse(replaced(keys, value))
        except params.ParamsError as err:
            message = str(err)
            # The key itself, or a section-level check that names the key in its text.
            assert ".".join(map(str, keys)) in message or keys[-1] in message, (value, message)
            assert len(message) < 2000 and "\n" not in message


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("data.image_size", [100_000, 100_000], "less than or equal to 1024"),
        ("data.image_size", [0, 0], "greater than or equal to 8"),
        ("train.epochs", 10**9, "less than or equal to 1000"),
        ("train.batch_size", 10**6, "less than or equal to 4096"),
        ("train.batch_size", -64, "greater than 0"),
        ("finetune.epochs", -1, "greater than or equal to 0"),
        ("data.max_pixels", 10**12, "less than or equal to 1073741824"),
        ("data.max_download_bytes", 0, "greater than 0"),
        ("data.shard_size", 10**9, "less than or equal to 1000000"),
        ("train.learning_rate", float("nan"), "finite number"),
        ("gate.rules.test.accuracy.min", float("-inf"), "finite number"),
        ("model.filters", [32] * 100, "at most 6 items"),
        ("seed", "42", "valid integer"),
        ("data.source", "url:ftp://example.com/a.zip", "http://, https:// or file://"),
    ],
)
def test_huge_negative_and_escaping_values_are_refused_with_the_bound(key, value, expected):
    keys = tuple(key.split(".")) if not key.startswith("gate.rules.") else ("gate", "rules", "test.accuracy", "min")
    with pytest.raises(params.ParamsError) as caught:
        params.parse(replaced(keys, value))
    assert key in str(caught.value) and expected in str(caught.value), str(caught.value)


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

# (file content, text the one-line message must hold); the path of the file is checked for all.
FILES = {
    "empty": (b"", "empty; expected a mapping"),
    "only a comment": (b"# nothing\n", "empty; expected a mapping"),
    "a list": (b"- seed\n- data\n", "expected a mapping of sections, got list"),
    "a scalar": (b"42\n", "expected a mapping of sections, got int"),
    "syntax error": (b"seed: [1, 2\n", "not valid YAML"),
    "tab indentation": (b"seed: 1\n\tdata: 2\n", "not valid YAML"),
    "python object tag": (
        b"seed: !!python/object/apply:os.system [echo hacked]\n",
        "could not determine a constructor",
    ),
    "python name tag": (b"seed: !!python/name:os.system\n", "could not determine a constructor"),
    "unknown local tag": (b"seed: !include other.yaml\n", "could not determine a constructor"),
    "binary tag": (b"seed: !!binary aGVsbG8=\n" + GOOD_TEXT.split("\n", 1)[1].encode(), "seed"),
    "duplicate top key": (GOOD_TEXT.encode() + b"seed: 7\n", "duplicate key 'seed'"),
    "duplicate nested key": (
        GOOD_TEXT.replace("  epochs: auto ", "  epochs: auto\n  epochs: 1 ").encode(),
        "duplicate key 'epochs'",
    ),
    "latin-1 bytes": (GOOD_TEXT.replace("# one seed", "# caf\u00e9 seed").encode("latin-1", "replace"), "not UTF-8"),
    "utf-16": (GOOD_TEXT.encode("utf-16"), "not UTF-8"),
    "NUL byte": (b"seed: 1\x00\n", "not valid YAML"),
    "billion laughs": (BILLION_LAUGHS.encode(), "more than 10000 values once anchors and aliases are expanded"),
    "deep nesting": (b"seed: " + b"[" * 600 + b"]" * 600 + b"\n", "nested too deeply"),
    "nesting within the recursion limit": (b"seed: " + b"[" * 40 + b"]" * 40 + b"\n", "nested too deeply"),
    "5,000-deep nesting": (b"seed: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    "1,200-deep block nesting": ("".join(f"{' ' * i}k:\n" for i in range(1200)).encode(), "nested too deeply"),
    "huge file": (b"# " + b"x" * (2**20) + b"\n", "larger than 1048576 bytes"),
    "number key": (GOOD_TEXT.encode() + b"1: 2\n", "1: Keys should be strings"),
    "unhashable key": (b"? [a, b]\n: 3\n", "found unhashable key"),
    "merge key into unknown section": (GOOD_TEXT.encode() + b"extra: {<<: {a: 1}}\n", "extra: unknown key"),
    "merge key overriding a merged value": (
        GOOD_TEXT.replace("finetune:\n", "finetune: &ft\n").encode() + b"gate2: {<<: *ft, epochs: 1}\n",
        "gate2: unknown key",
    ),
    "alias reuse of a whole section": (
        GOOD_TEXT.replace("finetune:\n", "finetune: &ft\n").encode() + b"gate2: *ft\n",
        "gate2: unknown key",
    ),
}


@pytest.mark.parametrize("name", FILES)
def test_a_hostile_file_is_refused_naming_the_file(tmp_path, name):
    content, expected = FILES[name]
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    with pytest.raises(params.ParamsError) as caught:
        params.load_params(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message and len(message) < 2000, message


def test_an_alias_of_a_scalar_is_fine():
    text = GOOD_TEXT.replace("seed: 42 ", "seed: &s 42 ").replace("  epochs: auto ", "  epochs: *s ")
    assert params.parse(yaml.safe_load(text)).train.epochs == 42


def test_params_logged_to_mlflow_hide_the_query_of_a_url():
    raw = replaced(("data", "source"), "url:https://example.com/a.zip?sig=token")
    flat = params.parse(raw).flat()
    assert flat["data.source"] == "url:https://example.com/a.zip?***"
    assert "token" not in repr(flat)


@pytest.mark.parametrize("userinfo", ["alice:s3cret@", "alice@", ":s3cret@"])
def test_credentials_in_a_url_source_are_refused_without_showing_them(userinfo):
    raw = replaced(("data", "source"), f"url:https://{userinfo}example.com/a.zip")
    with pytest.raises(params.ParamsError) as refused:
        params.parse(raw)
    message = str(refused.value)
    assert message.startswith("params.yaml: data.source: Value error, credentials in a URL would be stored in clear")
    assert "~/.netrc" in message and "(got 'url:https://***@example.com/a.zip')" in message
    assert "s3cret" not in message and "alice" not in message


def test_only_safe_yaml_loading_in_the_code():
    unsafe = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\(|\b(Unsafe|Full)?Loader\b(?<!SafeLoader)")
    offenders = []
    for path in sorted([*ROOT.glob("convpipe/**/*.py"), *ROOT.glob("stages/*.py"), *ROOT.glob("tests/**/*.py")]):
        if path.name == Path(__file__).name:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if unsafe.search(line) and "SafeLoader" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(
    "content, command, expected",
    ids=["python-tag", "huge-image-size", "not-utf8"],
    argvalues=[
        (
            b"seed: !!python/object/apply:os.system [touch hacked]\n",
            ["-m", "stages.split"],
            "split: error: params.yaml: not valid YAML: could not determine a constructor",
        ),
        (
            GOOD_TEXT.replace("image_size: auto", "image_size: [100000, 100000]").encode(),
            ["-m", "stages.preprocess"],
            "preprocess: error: params.yaml: data.image_size.0: Input should be less than or equal to 1024",
        ),
        (b"\xff\xfe" + b"seed: 1\n", ["-m", "convpipe", "gate"], "convpipe gate: error: params.yaml: not UTF-8 text"),
    ],
)
def test_a_stage_or_command_refuses_bad_params_in_one_line(tmp_path, content, command, expected):
    (tmp_path / "params.yaml").write_bytes(content)
    result = subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode != 0
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "hacked").exists()
