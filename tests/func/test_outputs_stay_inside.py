"""No params value can make `dvc repro` or `dvc exp run` delete or write anything outside the repository.

DVC deletes a stage's declared outputs before it runs the stage, so an output path a param could set would let
it delete any folder. Outputs are `${paths.*}` from dvc.yaml's `vars:`; DVC also loads params.yaml into the same
namespace and refuses to parse dvc.yaml when params.yaml defines a key vars already does ("cannot redefine"),
whether the key was written into params.yaml or set by `dvc exp run -S`. Each route below is tried against a real
folder outside the project, which must come through untouched.
"""

import pytest
import yaml

from tests import project as project_copy


@pytest.fixture
def setup(tmp_path):
    repo = project_copy.copy_project(tmp_path / "project")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    return repo, outside


def untouched(outside) -> bool:
    return [p.name for p in outside.iterdir()] == ["keep.txt"] and (outside / "keep.txt").read_text() == "precious"


# One route of each kind runs in the fast loop; the variants (each a few seconds of DVC start-up) are slow.
@pytest.mark.parametrize("where", ["absolute", pytest.param("relative", marks=pytest.mark.slow)])
def test_a_paths_section_in_params_yaml_stops_dvc_before_it_deletes(setup, where):
    repo, outside = setup
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["paths"] = {"raw": str(outside) if where == "absolute" else "../outside"}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = project_copy.run("dvc", "repro", "download", cwd=repo, check=False)
    assert result.returncode != 0
    assert "cannot redefine 'paths.raw' from 'vars[0]' as it already exists in 'params.yaml'" in result.stderr
    assert untouched(outside) and not (repo / "data" / "raw").exists()


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ("+paths.raw={outside}", "cannot redefine 'paths.raw'"),
        *(
            pytest.param(setting, refusal, marks=pytest.mark.slow)
            for setting, refusal in [
                ("paths.raw={outside}", "Could not override 'paths.raw'"),
                ("++paths={{raw:{outside}}}", "cannot redefine 'paths.raw'"),
                ("dvc.yaml:vars.0.paths.raw={outside}", "Interpolation key 'paths.raw' not found"),
                ("dvc.yaml:stages.download.outs=[{outside}]", "Interpolation key"),
            ]
        ),
    ],
)
def test_dvc_exp_run_set_param_cannot_point_an_output_outside(setup, setting, refusal):
    repo, outside = setup
    before = {name: (repo / name).read_text() for name in ("params.yaml", "dvc.yaml")}
    result = project_copy.run(
        "dvc", "exp", "run", "-S", setting.format(outside=outside), "download", cwd=repo, check=False
    )
    assert result.returncode != 0
    assert refusal in result.stderr
    assert untouched(outside) and not (repo / "data" / "raw").exists()
    assert {name: (repo / name).read_text() for name in before} == before
