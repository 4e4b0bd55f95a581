"""Every stage starts both as `python -m stages.<name>` and as `python stages/<name>.py`, whatever order its
imports come in (TensorFlow reads the Keras 2 switch when tf.keras is first used, not when it is imported)."""

import subprocess
import sys

import pytest

from tests.project import ROOT, STAGES

# Stages whose module imports TensorFlow when it loads: seconds each, so outside the fast loop.
LOADS_TENSORFLOW = {"train", "finetune", "index", "evaluate", "export"}


@pytest.mark.parametrize("how", ["module", "script"])
@pytest.mark.parametrize(
    "stage", [pytest.param(s, marks=pytest.mark.slow) if s in LOADS_TENSORFLOW else s for s in STAGES]
)
def test_a_stage_starts_as_a_module_and_as_a_script(stage, how, tmp_path):
    command = ["-m", f"stages.{stage}"] if how == "module" else [str(ROOT / "stages" / f"{stage}.py")]
    # Outside a project the stage has imported everything and stops at its first step, naming what is missing.
    result = subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == f"{stage}: error: params.yaml: not found (run from the project root)"
