"""dvc.yaml's `vars: paths`: the one place stage outputs are named, refused when they leave the project."""

import pytest
import yaml

from convpipe.core.paths import Paths, load_paths
from tests.dvc_deps import ROOT


def test_the_pipeline_names_every_path_inside_the_project():
    paths = load_paths(ROOT / "dvc.yaml")
    assert isinstance(paths, Paths) and str(paths.raw) == "data/raw" and str(paths.reports) == "reports"


@pytest.mark.parametrize("value", ["/etc", ".", "../outside", "models/../../outside", "~/x", "C:/x"])
def test_a_path_outside_the_project_is_refused_naming_the_key(tmp_path, value):
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    pipeline["vars"][0]["paths"]["raw"] = value
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    with pytest.raises(ValueError, match=r"dvc.yaml: vars.paths.raw: expected a relative path inside the project"):
        load_paths(tmp_path / "dvc.yaml")


def test_paths_are_not_params():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert "paths" not in params
