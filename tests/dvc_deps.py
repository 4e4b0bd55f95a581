"""Which files a stage module really depends on, read from its imports: what dvc.yaml's deps must list."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "convpipe" / "core"


def module_path(name: str) -> Path | None:
    """The file of a dotted module name inside the project, if there is one."""
    for candidate in (ROOT / (name.replace(".", "/") + ".py"), ROOT / name.replace(".", "/") / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """convpipe modules imported by a file, including `from convpipe.x import y` where y is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "convpipe" and module_path(name)}


def closure(path: Path) -> set[Path]:
    """A module and every convpipe module it reaches, with the packages' non-empty __init__ files."""
    seen, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [module_path(name) for name in imported_modules(current)]
        parts = current.relative_to(ROOT).parts
        todo += [p for i in range(1, len(parts)) if (p := ROOT.joinpath(*parts[:i], "__init__.py")).exists()]
    return {p for p in seen if not only_docstring(p)}


def only_docstring(path: Path) -> bool:
    """An empty module, or one with nothing but a docstring: it changes nothing a stage does."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return not body or (len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant))


def code_deps(stage: str) -> set[str]:
    """The code deps dvc.yaml lists for `stage`: its module, convpipe/core as one folder, other modules one by one."""
    deps = set()
    for path in closure(ROOT / "stages" / f"{stage}.py"):
        deps.add("convpipe/core" if path.is_relative_to(CORE) else path.relative_to(ROOT).as_posix())
    return deps


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name → dotted target, for `import a.b as c` and `from a import b` in a module."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name: alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _function(target: str) -> ast.FunctionDef | None:
    """The definition of a dotted convpipe function name, if it is one."""
    module, _, name = target.rpartition(".")
    path = module_path(module) if module.startswith("convpipe") else None
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _callee(call: ast.Call, imports: dict[str, str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return imports.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in imports:
        return f"{imports[func.value.id]}.{func.attr}"
    return None


def _reads(body: ast.AST, roots: dict[str, tuple], imports: dict[str, str], depth: int) -> set[tuple]:
    """The params keys read below `body`, where each name in `roots` stands for a params key prefix.

    `x.key` reads prefix + (key,); a name passed whole to a convpipe function is followed into it
    (`depth` levels) by the parameter it binds, and counts as reading its whole prefix otherwise.
    """
    roots, found = dict(roots), set()
    parents = {child: node for node in ast.walk(body) for child in ast.iter_child_nodes(node)}

    def chain(node) -> tuple | None:
        """The key prefix an expression like params.data.color_mode stands for, or None."""
        if isinstance(node, ast.Name):
            return roots.get(node.id)
        if isinstance(node, ast.Attribute):
            head = chain(node.value)
            return None if head is None else (*head, node.attr)
        return None

    for node in ast.walk(body):  # aliases first: `data = params.data`, `a, b = params.x, params.y`
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            targets, values = node.targets[0], node.value
            pairs = (
                zip(targets.elts, values.elts)
                if isinstance(targets, ast.Tuple) and isinstance(values, ast.Tuple)
                else [(targets, values)]
            )
            for target, value in pairs:
                if isinstance(target, ast.Name) and chain(value) is not None:
                    roots[target.id] = chain(value)
    for node in ast.walk(body):
        key = chain(node)
        if key is None or isinstance(parents.get(node), ast.Attribute):
            continue  # only the outermost expression of a chain counts
        parent = parents.get(node)
        if isinstance(parent, ast.Assign) and isinstance(node, ast.Attribute | ast.Name) and node is parent.value:
            continue  # an alias, followed above
        if isinstance(parent, ast.Tuple) and isinstance(parents.get(parent), ast.Assign):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            continue
        if isinstance(parent, ast.Call) and node in parent.args and len(key) < 2 and depth > 0:
            callee = _callee(parent, imports)
            if callee == "convpipe.core.tracking.stage_run":
                continue  # tracking logs every param but reads only its own section, which no stage lists
            function = _function(callee) if callee else None
            if function is not None:
                position = parent.args.index(node)
                parameter = function.args.args[position].arg
                module = module_path(callee.rpartition(".")[0])
                found |= _reads(
                    function, {parameter: key}, _imports(ast.parse(module.read_text(encoding="utf-8"))), depth - 1
                )
                continue
        # A pydantic method (settings.model_copy(update=...)) reads the whole section it is called on.
        whole = next((i for i, part in enumerate(key) if part.startswith("model_")), None)
        found.add(key[:whole] if whole is not None else key[:2])  # section.key; then a method (source.partition)
    return found


def params_read(stage: str) -> set[tuple]:
    """The params keys a stage module reads, as tuples ("data", "color_mode") or ("seed",) or whole ("train",).

    `params` handed whole to stage_run is left out: tracking logs every param but reads only its own section.
    """
    from convpipe.core.params import Params

    path = ROOT / "stages" / f"{stage}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    keys = {key for key in _reads(main, {"params": ()}, _imports(tree), depth=2) if key}
    for section, field in Params.model_fields.items():
        names = set(getattr(field.annotation, "model_fields", ()))
        # A section read whole, or key by key to its last key, is listed whole.
        if (section,) in keys or (names and {(section, name) for name in names} <= keys):
            keys = {key for key in keys if key[0] != section} | {(section,)}
    return keys
