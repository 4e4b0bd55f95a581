"""The library's one-way flow (docs/architecture.md): stages → convpipe groups → core, and no cycles."""

import ast
from graphlib import CycleError, TopologicalSorter

import pytest

from tests.dvc_deps import ROOT

TABLES = {"convpipe.export.formats", "convpipe.model.architectures"}  # read by core/params, import nothing


def module_name(path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path) -> set[str]:
    """Dotted names of the modules a file imports (functions inside included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


LIBRARY = {module_name(p): imports(p) for p in (ROOT / "convpipe").rglob("*.py")}
STAGE_MODULES = {module_name(p): imports(p) for p in (ROOT / "stages").glob("*.py")}


def group(name: str) -> str:
    """convpipe.data.split → data; convpipe (the package itself) → convpipe."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_stages_import_no_other_stage_and_the_library_no_stage():
    for name, found in {**STAGE_MODULES, **LIBRARY}.items():
        assert not any(imported.startswith("stages") for imported in found), name


@pytest.mark.parametrize("name", sorted(n for n in LIBRARY if n.startswith("convpipe.core")))
def test_core_imports_no_other_group_but_the_tables(name):
    others = {i for i in LIBRARY[name] if i.startswith("convpipe.") and not i.startswith("convpipe.core")}
    assert others <= TABLES, name


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_tables_import_nothing_of_convpipe_nor_tensorflow(name):
    assert not {i for i in LIBRARY[name] if i.split(".")[0] in ("convpipe", "tensorflow", "tf_keras")}


def test_the_groups_import_each_other_without_cycles():
    graph = {}
    for name, found in LIBRARY.items():
        if name in TABLES:
            continue
        edges = {group(i) for i in found if i.startswith("convpipe.") and i not in TABLES and group(i) != group(name)}
        graph.setdefault(group(name), set()).update(edges)
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as err:
        pytest.fail(f"groups import each other in a cycle: {err.args[1]}")
