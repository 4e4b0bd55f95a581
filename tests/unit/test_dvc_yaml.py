"""dvc.yaml matches the code: each stage depends on every module it imports and lists exactly the params it reads."""

import pytest
import yaml

from tests.dvc_deps import ROOT, code_deps, params_read

with open(ROOT / "dvc.yaml", encoding="utf-8") as handle:
    STAGES = yaml.safe_load(handle)["stages"]


@pytest.mark.parametrize("name", STAGES)
def test_stage_command_runs_its_own_module(name):
    assert STAGES[name]["cmd"] == f"python -m stages.{name}"


@pytest.mark.parametrize("name", STAGES)
def test_deps_list_every_module_the_stage_uses(name):
    listed = {d for d in STAGES[name]["deps"] if d.startswith(("stages/", "convpipe/"))}
    assert listed == code_deps(name)


def test_split_depends_on_the_review_folder_the_exclude_and_relabel_files_live_in():
    from convpipe.data.review import REVIEW_DIR

    assert REVIEW_DIR.as_posix() in STAGES["split"]["deps"]


@pytest.mark.parametrize("name", STAGES)
def test_params_list_exactly_the_keys_read(name):
    listed = {tuple(entry.split(".")) for entry in STAGES[name].get("params", [])}
    assert listed == params_read(name)


def test_every_stage_module_is_in_the_pipeline():
    modules = {p.stem for p in (ROOT / "stages").glob("*.py") if p.stem != "__init__"}
    assert modules == set(STAGES)


def test_the_params_check_sees_a_key_read_through_an_alias_and_into_the_library():
    # split reads data.val_fraction through `data = params.data`; download reads data.sha256 inside sources.py.
    assert ("data", "val_fraction") in params_read("split")
    assert ("data", "sha256") in params_read("download")
    assert ("data", "color_mode") not in params_read("download")
