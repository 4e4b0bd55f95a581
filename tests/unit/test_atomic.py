"""Atomic outputs: complete or absent, never half-written; errors name the output, not the temporary file."""

import errno
import os
import signal
import subprocess
import sys

import pytest

from convpipe.core import atomic
from convpipe.core.atomic import OutputError, atomic_dir, atomic_file, atomic_path
from convpipe.core.errors import run_main


def siblings(folder):
    return sorted(p.name for p in folder.iterdir())


def test_file_replaces_the_old_one_only_when_complete(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with atomic_file(target) as handle:
        handle.write("new")
        assert target.read_text() == "old"  # readers still see the previous output
    assert target.read_text() == "new"
    assert siblings(tmp_path) == ["metrics.json"]


def test_an_error_in_the_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert siblings(tmp_path) == ["metrics.json"]


def test_disk_full_names_the_output_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "reports" / "metrics.json"
    target.parent.mkdir()
    target.write_text("old")

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)  # the last write-side call before the rename
    with pytest.raises(OutputError) as caught:
        with atomic_file(target) as handle:
            handle.write("new")
    assert str(caught.value) == f"cannot write {target}: No space left on device"
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "old"
    assert siblings(target.parent) == ["metrics.json"]


def test_unwritable_folder_names_the_output(tmp_path, monkeypatch, capsys):
    target = tmp_path / "models" / "train"

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "models"))

    monkeypatch.setattr(atomic.tempfile, "mkdtemp", denied)

    def main():
        with atomic_dir(target):
            pass

    assert run_main(main, "train") == 1
    assert capsys.readouterr().err == f"train: error: cannot write {target}: Permission denied\n"


def test_a_library_error_about_a_full_disk_names_the_output(tmp_path):
    target = tmp_path / "prepared"
    with pytest.raises(OutputError) as caught:
        with atomic_dir(target) as part:
            # What TensorFlow's TFRecordWriter raises (a ResourceExhaustedError, not an OSError).
            raise RuntimeError(f"{part / 'train-00000.tfrecord'}; No space left on device")
    assert str(caught.value) == f"cannot write {target}: {target / 'train-00000.tfrecord'}; No space left on device"
    with pytest.raises(RuntimeError, match="a bug"):
        with atomic_dir(target):
            raise RuntimeError("a bug")
    assert siblings(tmp_path) == []


def test_errors_reading_inputs_inside_the_block_are_not_blamed_on_the_output(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        with atomic_dir(tmp_path / "prepared"):
            open(tmp_path / "missing.csv")
    assert "missing.csv" in str(caught.value)
    assert siblings(tmp_path) == []


def test_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "prepared"
    target.mkdir()
    (target / "old.tfrecord").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as part:
            (part / "new.tfrecord").write_text("half")
            raise RuntimeError("killed")
    assert siblings(target) == ["old.tfrecord"]
    with atomic_dir(target) as part:
        (part / "new.tfrecord").write_text("new")
        assert siblings(target) == ["old.tfrecord"]
    assert siblings(target) == ["new.tfrecord"]
    assert siblings(tmp_path) == ["prepared"]


def test_path_keeps_the_suffix_for_writers_that_go_by_it(tmp_path):
    with atomic_path(tmp_path / "model.keras") as part:
        assert part.suffix == ".keras" and part.parent == tmp_path
        part.write_bytes(b"model")
    assert siblings(tmp_path) == ["model.keras"]


def test_what_a_killed_run_left_is_removed_by_the_next_write(tmp_path):
    (tmp_path / ".train.abc.part").mkdir()
    (tmp_path / ".metrics.json.xyz.part.json").write_text("half")
    with atomic_dir(tmp_path / "train"):
        pass
    with atomic_file(tmp_path / "metrics.json") as handle:
        handle.write("{}")
    assert siblings(tmp_path) == ["metrics.json", "train"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, when this machine lets us mount one (root with CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the monkeypatched test covers it")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_really_full_disk_is_a_clear_error_with_the_old_output_intact(tiny_disk, capsys):
    target = tiny_disk / "reports" / "metrics.json"
    target.parent.mkdir()
    target.write_text("old")

    def main():
        with atomic_file(target) as handle:
            handle.write("x" * 200_000)

    assert run_main(main, "evaluate") == 1
    assert capsys.readouterr().err == f"evaluate: error: cannot write {target}: No space left on device\n"
    assert target.read_text() == "old"
    assert siblings(target.parent) == ["metrics.json"]


def test_sigterm_ends_a_stage_with_one_line_and_no_partial_output(tmp_path):
    script = (
        "import os, signal\n"
        "from convpipe.core.atomic import atomic_file\n"
        "from convpipe.core.errors import run_main\n"
        "def main():\n"
        "    with atomic_file('out.json') as handle:\n"
        "        handle.write('half')\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        handle.write('never')\n"
        "raise SystemExit(run_main(main, 'stage'))\n"
    )
    (tmp_path / "out.json").write_text("old")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        timeout=60,
    )
    assert result.returncode == 128 + signal.SIGTERM
    assert result.stderr == "stage: terminated by SIGTERM; partial outputs removed\n"
    assert siblings(tmp_path) == ["out.json"] and (tmp_path / "out.json").read_text() == "old"
