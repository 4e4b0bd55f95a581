"""Benchmark figures as Markdown: readable in a terminal and pasteable into the README."""

from __future__ import annotations

TARGETS = {  # what the figures should reach on a 2-core laptop CPU (see README "Benchmarks")
    "efficiency": "≥ 0.95",
    "speedup": "≥ 2",
    "noop_repro_s": "< 5",
}


def section(name: str, figures) -> str:
    """One section: scalars as a two-column table, a mapping or list of rows as one table."""
    return f"\n### {name}\n\n" + "\n\n".join(_blocks(figures))


def _blocks(figures) -> list[str]:
    if isinstance(figures, list):
        return [_table(figures)]
    if _is_rows(figures):
        return [_table([{"": k, **v} for k, v in figures.items()])]
    scalars = {k: v for k, v in figures.items() if not isinstance(v, (dict, list)) or _is_vector(v)}
    blocks = (
        [_table([{"figure": k, "value": v, "target": TARGETS.get(k, "")} for k, v in scalars.items()])]
        if scalars
        else []
    )
    for key, value in figures.items():
        if _is_vector(value):
            continue
        if isinstance(value, list):
            blocks.append(f"{key}:\n\n{_table(value)}")
        elif _is_rows(value):
            blocks.append(f"{key}:\n\n{_table([{'': k, **v} for k, v in value.items()])}")
        elif isinstance(value, dict):
            blocks += [f"{key}:\n\n{block}" for block in _blocks(value)]
    return blocks


def _is_rows(value) -> bool:
    """A mapping of names to flat mappings: one table, a row per name."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(row, dict) and not any(isinstance(v, dict) for v in row.values()) for row in value.values())
    )


def _is_vector(value) -> bool:
    return isinstance(value, list) and not any(isinstance(v, dict) for v in value)


def _table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "×".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)
