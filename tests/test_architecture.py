"""The package's shape: modules import one another without cycles, and loading a config
needs no TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _import_graph() -> dict[str, set[str]]:
    """kasc module -> the kasc modules it imports anywhere (top level or inside functions)."""
    modules = {}
    for path in (REPO / "kasc").rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path

    def known(dotted: str) -> str | None:
        parts = dotted.split(".")
        return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules), None)

    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kasc"):
                targets = [known(f"{node.module}.{a.name}") or known(node.module) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [known(a.name) for a in node.names if a.name.startswith("kasc")]
            graph[name].update(t for t in targets if t and t != name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph``, or [] (depth-first search)."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_module_imports_back_into_one_that_imports_it():
    graph = _import_graph()
    assert len(graph) > 50 and "kasc.config.validate" in graph["kasc.config.loader"]  # the graph is real
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]  # and the search finds one


def test_the_config_layer_imports_nothing_above_it():
    graph = _import_graph()
    config = {m for m in graph if m == "kasc.config" or m.startswith("kasc.config.")}
    allowed = config | {"kasc.files.layout", "kasc.cli"}
    for module in config:
        assert graph[module] <= allowed, f"{module} imports {sorted(graph[module] - allowed)}"


def test_loading_a_config_imports_no_tensorflow():
    code = ("import sys, kasc.config as c; c.load_config('submission3'); c.load_config('us8k_kd_mixed_student'); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
