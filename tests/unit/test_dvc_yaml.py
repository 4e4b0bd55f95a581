"""dvc.yaml matches the code: each stage depends on every module it imports and the params it reads."""
import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
with open(ROOT / "dvc.yaml", encoding="utf-8") as handle:
    STAGES = yaml.safe_load(handle)["stages"]


def module_path(name: str) -> Path | None:
    for candidate in (ROOT / (name.replace(".", "/") + ".py"), ROOT / name.replace(".", "/") / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """convpipe modules imported by a file, including `from convpipe.x import y` where y is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "convpipe" and module_path(name)}


def closure(path: Path) -> set[Path]:
    """A module and every convpipe module it reaches, with the packages' __init__ files."""
    seen, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [module_path(name) for name in imported_modules(current)]
        parts = current.relative_to(ROOT).parts
        todo += [p for i in range(1, len(parts)) if (p := ROOT.joinpath(*parts[:i], "__init__.py")).exists()]
    # An empty __init__.py changes nothing a stage does, so it need not be a dependency.
    return {p for p in seen if p.stat().st_size and (p.relative_to(ROOT).parts[0] in ("convpipe", "stages"))}


def sections_read(path: Path) -> set[str]:
    """Sections a stage reads as params.<section>."""
    return {node.attr for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "params"}


@pytest.mark.parametrize("name", STAGES)
def test_stage_command_runs_its_own_module(name):
    assert STAGES[name]["cmd"] == f"python -m stages.{name}"


@pytest.mark.parametrize("name", STAGES)
def test_deps_list_every_module_the_stage_uses(name):
    module = ROOT / "stages" / f"{name}.py"
    needed = {str(p.relative_to(ROOT)) for p in closure(module)}
    code_deps = {d for d in STAGES[name]["deps"] if d.endswith(".py")}
    assert code_deps == needed


@pytest.mark.parametrize("name", STAGES)
def test_params_list_exactly_the_sections_read(name):
    listed = {entry.split(".")[0] for entry in STAGES[name].get("params", [])}
    read = sections_read(ROOT / "stages" / f"{name}.py") - {"flat", "digest"}
    assert listed == read


def test_every_stage_module_is_in_the_pipeline():
    modules = {p.stem for p in (ROOT / "stages").glob("*.py") if p.stem != "__init__"}
    assert modules == set(STAGES)
