"""Kill each stage mid-run (SIGTERM, SIGKILL in turn); `dvc repro` then completes, redoing or resuming it."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import project as project_copy

STAGES = project_copy.STAGES
# Two epochs each (as in the shared built project), so train and finetune are killed between epochs and must
# resume from their backup; one export format, since the comparison stops at evaluate.
PARAMS = {**project_copy.TINY, "finetune": {"epochs": 2}}
RESUMING = {"train", "finetune"}
HANG_S = 900  # generous bound on one `dvc repro`; only reached if something hangs

pytestmark = pytest.mark.slow


def stage_process(repo: Path, stage: str) -> int | None:
    """The pid of `python -m stages.<stage>` running in repo, if any."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if f"stages.{stage}".encode() in cmdline and Path(os.readlink(entry / "cwd")) == repo:
                return int(entry.name)
        except (OSError, ValueError):
            continue
    return None


def partial_outputs(repo: Path) -> list[Path]:
    """Temporary siblings of outputs being written (convpipe.core.atomic's `.NAME.*.part*`)."""
    return [
        p
        for folder in ("data", "models", "reports")
        if (repo / folder).exists()
        for p in (repo / folder).iterdir()
        if ".part" in p.name
    ]


def mid_stage(repo: Path, stage: str, started: float | None) -> bool:
    """The moment to kill: train/finetune once an epoch is backed up; other stages while writing outputs
    or, since some (report, split) finish in a second or two, one second after their process appears."""
    if stage in RESUMING:
        return (repo / ".convpipe" / "backup" / stage / "epochs" / "chief" / "checkpoint").exists()
    return bool(partial_outputs(repo)) or (started is not None and time.monotonic() - started > 1)


def repro_and_kill(repo: Path, stage: str, sig: int, log: Path) -> dict:
    """Start `dvc repro`, kill its whole process group with `sig` in the middle of `stage`, wait for it."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n===== kill {stage} with {sig.name}\n")
        out.flush()
        proc = subprocess.Popen(
            ["dvc", "repro"],
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=project_copy.clean_env(),
            start_new_session=True,
        )
        begun = time.monotonic()
        deadline, started, killed = begun + HANG_S, None, None
        while proc.poll() is None and time.monotonic() < deadline:
            if started is None and stage_process(repo, stage):
                started = time.monotonic()
            if started is not None and mid_stage(repo, stage, started):
                killed = {"partial": [p.name for p in partial_outputs(repo)]}
                os.killpg(proc.pid, sig)
                break
            time.sleep(0.05)
        code = proc.wait(timeout=HANG_S)
        out.write(f"===== {stage}: {time.monotonic() - begun:.0f} s, exit {code}\n")
    return {"stage": stage, "signal": sig.name, "killed": killed, "returncode": code}


@pytest.fixture(scope="module")
def runs(built_project, tmp_path_factory):
    """The shared uninterrupted run, and a full `dvc repro` with the same training params where every stage was
    killed once on the way. Export's latencies differ between any two runs, so the comparison stops at evaluate."""
    base = tmp_path_factory.mktemp("faults")
    killed = project_copy.copy_project(base / "killed", **PARAMS)
    kills = [
        repro_and_kill(killed, stage, signal.SIGTERM if i % 2 == 0 else signal.SIGKILL, base / "killed.log")
        for i, stage in enumerate(STAGES)
    ]
    final = project_copy.run("dvc", "repro", cwd=killed)
    return built_project, killed, kills, final.stdout + final.stderr, (base / "killed.log").read_text()


def test_every_stage_was_killed_mid_run_and_the_run_failed(runs):
    _, _, kills, _, log = runs
    for kill in kills:
        assert kill["killed"] is not None, f"{kill['stage']} finished before it could be killed:\n{log[-3000:]}"
        assert kill["returncode"] != 0, kill


def test_sigterm_ends_the_stage_with_one_line(runs):
    _, _, kills, _, log = runs
    for kill in kills:
        if kill["signal"] == "SIGTERM" and kill["killed"]["partial"]:
            assert f"{kill['stage']}: terminated by SIGTERM; partial outputs removed" in log
    assert "Traceback" not in log


def test_repro_after_the_kills_completes_with_no_partial_output_left(runs):
    _, killed, _, final, _ = runs
    assert "Running stage 'report'" in final
    assert partial_outputs(killed) == []
    assert "Data and pipelines are up to date" in project_copy.run("dvc", "status", cwd=killed).stdout


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_stages_before_training_redo_to_identical_outputs(runs):
    plain, killed, _, _, _ = runs
    for name in (
        "data/raw/download.json",
        "data/split/train.csv",
        "data/split/val.csv",
        "data/split/test.csv",
        "data/split/summary.json",
        "data/prepared/meta.json",
        "reports/data.json",
    ):
        assert (killed / name).read_bytes() == (plain / name).read_bytes(), name
    shards = sorted(p.name for p in (plain / "data/prepared").glob("*.tfrecord"))
    assert shards == sorted(p.name for p in (killed / "data/prepared").glob("*.tfrecord"))
    for name in shards:
        assert (killed / "data/prepared" / name).read_bytes() == (plain / "data/prepared" / name).read_bytes()


def test_train_resumes_after_the_epoch_it_was_killed_in(runs):
    plain, killed, _, _, _ = runs
    resumed, uninterrupted = rows(killed / "models/train/history.csv"), rows(plain / "models/train/history.csv")
    # Header and the epoch backed up before the kill are the uninterrupted run's, byte for byte;
    # then exactly the remaining epochs ran, none repeated or skipped.
    assert resumed[:2] == uninterrupted[:2]
    assert [row.split(",")[0] for row in resumed] == [row.split(",")[0] for row in uninterrupted]
    assert [row.split(",")[0] for row in rows(killed / "models/finetune/history.csv")] == ["epoch", "0", "1"]


def test_downstream_reports_are_complete_and_consistent(runs):
    _, killed, _, _, _ = runs
    metrics = read_json(killed / "reports/metrics.json")
    assert set(metrics) == {"test", "val", "data"} and 0 <= metrics["test"]["accuracy"] <= 1
    export = read_json(killed / "reports/export.json")
    assert set(export) == {"keras", *PARAMS["export"]["formats"]}
    assert (killed / "models/export/model_int8.tflite").stat().st_size == export["tflite_int8"]["size_bytes"]
    assert f"{metrics['test']['accuracy']:.4f}" in (killed / "reports/report.md").read_text(encoding="utf-8")


def test_a_resumed_fit_equals_an_uninterrupted_one(runs):
    plain, killed, _, _, _ = runs
    # Train and finetune were each killed after a backed-up epoch and resumed: every epoch's losses are
    # the uninterrupted run's to the last digit, and so is everything evaluated from the final model.
    for name in ("models/train/history.csv", "models/finetune/history.csv"):
        assert rows(killed / name) == rows(plain / name), name
    assert read_json(killed / "reports/metrics.json") == read_json(plain / "reports/metrics.json")
