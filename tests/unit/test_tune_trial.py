"""A trial's process: stopped as a whole group, even when DVC exits first and the stage shrugs off SIGTERM."""

import subprocess
import time

from convpipe.tune import trial as trials


def test_stop_ends_the_whole_group_even_when_its_leader_exits_first(tmp_path, monkeypatch):
    monkeypatch.setattr(trials, "STOP_GRACE_S", 1)
    # The leader (like DVC) dies on SIGTERM; its child (like a stage busy in C code) ignores SIGTERM.
    script = "sh -c 'trap \"\" TERM; sleep 300' & wait"
    process = subprocess.Popen(["sh", "-c", script], process_group=0)
    spec = trials.TrialSpec(0, "s-0", {}, [], {}, tmp_path / "s-0.log")
    running = trials.RunningTrial(spec, process)
    time.sleep(1)  # the inner shell has set its trap
    assert trials.group_running(process.pid)
    running.stop()
    assert process.poll() is not None
    assert not trials.group_running(process.pid)


def test_experiment_names_and_the_failing_line(tmp_path):
    assert trials.experiment_name("digits", 7) == "digits-7"
    log = tmp_path / "t.log"
    log.write_text("Running stage 'train':\ntrain: error: params.yaml: bad\nERROR: failed to reproduce 'train'\n")
    assert trials.last_error(log) == "train: error: params.yaml: bad"
    log.write_text("Running stage 'train':\nERROR: failed to reproduce 'train': exited with 1\nERROR: again\n")
    assert trials.last_error(log) == "ERROR: failed to reproduce 'train': exited with 1"
