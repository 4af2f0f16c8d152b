"""memrl's modules import one way: no import circle anywhere, and each layer imports only
the layers below it (docs/design.md, "Layers"). Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import memrl

PACKAGE_DIR = Path(memrl.__file__).parent

# What each layer may import of memrl besides itself (docs/design.md).
LEAVES = {"memrl.checks", "memrl.atomic", "memrl.signals"}
ALLOWED = {
    "memrl.checks": set(),
    "memrl.atomic": set(),
    "memrl.signals": set(),
    "memrl.memory": LEAVES,
    "memrl.envs": LEAVES,
    "memrl.sb3": LEAVES | {"memrl.memory"},
    "memrl.recall": LEAVES | {"memrl.memory", "memrl.envs", "memrl.sb3"},
    "memrl.config": LEAVES | {"memrl.memory", "memrl.envs"},
    "memrl.run": LEAVES
    | {"memrl.memory", "memrl.envs", "memrl.sb3", "memrl.recall", "memrl.config"},
    "memrl.supervised": LEAVES | {"memrl.memory", "memrl.envs", "memrl.recall", "memrl.config"},
}
# recall reaches sb3 only through the typed rollout step its training callback reads.
RECALL_INTO_SB3 = {"memrl.recall.callback"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}


def memrl_imports(path: Path) -> set[str]:
    """The memrl modules ``path`` imports (``from a import b`` counts as ``a.b`` where that
    is a module, else as ``a``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {name for name in found if name in MODULES}


GRAPH = {name: memrl_imports(path) - {name} for name, path in MODULES.items()}


def layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        for dependency in GRAPH[pending.pop()]:
            if dependency not in seen:
                seen.add(dependency)
                pending.append(dependency)
    return seen


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_takes_part_in_an_import_circle(module):
    assert module not in reachable(module), f"{module} imports itself back through others"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in ALLOWED))
def test_each_layer_imports_only_the_layers_below(module):
    allowed = ALLOWED[layer(module)] | {layer(module)}
    if module in RECALL_INTO_SB3:
        allowed = allowed | {"memrl.sb3"}
    elif layer(module) == "memrl.recall":
        allowed = allowed - {"memrl.sb3"}
    outside = sorted(d for d in GRAPH[module] if layer(d) not in allowed)
    assert not outside, f"{module} imports {outside}"


def test_nothing_below_the_command_imports_it():
    importers = sorted(m for m, deps in GRAPH.items() if "memrl.cli" in deps)
    assert importers == ["memrl.__main__"]


def test_the_html_page_needs_no_video_writer():
    assert "memrl.recall.render" not in reachable("memrl.recall.html")


def test_the_graph_sees_the_imports():
    # Guards the test itself: a parsing slip would make every check above pass vacuously.
    assert "memrl.memory.base" in GRAPH["memrl.memory.dnc"]
    assert "memrl.recall.drawing" in GRAPH["memrl.recall.html"]
    assert "memrl.cli" in GRAPH["memrl.__main__"]
