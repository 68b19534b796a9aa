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
    allowed = config | {"kasc.cli"}
    for module in config:
        assert graph[module] <= allowed, f"{module} imports {sorted(graph[module] - allowed)}"


def test_loading_a_config_imports_no_tensorflow():
    code = ("import sys, kasc.config as c; c.load_config('submission3'); c.load_config('us8k_kd_mixed_student'); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


LAYERS = [
    {"kasc.models"},                                   # networks: Keras only
    {"kasc", "kasc.startup"},                          # `import kasc`: a quiet TensorFlow, kasc's layers registered
    {"kasc.cli"},                                      # the `kasc COMMAND` script and the --help helper
    {"kasc.config"},                                   # configs: no TensorFlow
    {"kasc.files"},                                    # run folders, atomic writes, locks
    {"kasc.data"},                                     # datasets, cache, front end, pipelines
    {"kasc.complexity"},                               # the audit
    {"kasc.deployment"},                               # TFLite, the waveform model, prediction
    {"kasc.evaluation"},                               # scores, tables
    {"kasc.training"},                                 # runs, teachers, the Distiller
    {"kasc.train", "kasc.evaluate", "kasc.predict", "kasc.export", "kasc.compare", "kasc.qat",
     "kasc.device_shift", "kasc.clean", "kasc.serfr_table"},  # the commands: nothing imports them
]
"""kasc's layers, from the ground up: a module imports only from its own layer or below."""


def test_layers_run_one_way_and_no_package_imports_a_command():
    graph = _import_graph()

    def layer(module: str) -> int:
        top = ".".join(module.split(".")[:2])
        return next(i for i, names in enumerate(LAYERS) if top in names or module in names)

    assert {".".join(m.split(".")[:2]) for m in graph} <= set().union(*LAYERS)  # every package has a layer
    upward = [f"{m} -> {t}" for m, targets in graph.items() for t in targets if layer(t) > layer(m)]
    assert upward == [], "imports from a lower layer up to a higher one: " + "; ".join(upward)
    commands = LAYERS[-1]
    into_commands = [f"{m} -> {t}" for m, targets in graph.items() for t in targets
                     if t in commands and m != t]
    assert into_commands == [], "modules importing a command: " + "; ".join(into_commands)


def _imports_inside_functions() -> list[tuple[str, int, bool]]:
    """(file, line, has a reason) of every import statement inside a function of kasc (nested
    functions included, each statement once). A run of imports one after the other shares one
    reason: a comment on its first line or on the line above it."""
    found, sources = {}, {}
    for path in sorted((REPO / "kasc").rglob("*.py")):
        lines = sources[path] = path.read_text().splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found[path, node.lineno] = node
    result = []
    for path, line in sorted(found):
        lines = sources[path]
        first = line
        while first - 1 >= 1 and (path, first - 1) in found:  # the run of imports it belongs to
            first -= 1
        reason = "#" in lines[first - 1] or lines[first - 2].strip().startswith("#")
        result.append((str(path.relative_to(REPO)), line, reason))
    return result


def test_imports_inside_functions_are_few_and_each_says_why():
    """An import inside a function defers a heavy dependency (TensorFlow for a command's --help,
    matplotlib until a picture is drawn, ...) and says so; 60 at most (docs/architecture.md)."""
    inside = _imports_inside_functions()
    assert 0 < len(inside) <= 60, f"{len(inside)} import statements inside functions (at most 60)"
    unexplained = [f"{path}:{line}" for path, line, reason in inside if not reason]
    assert not unexplained, f"imports inside functions without a comment saying why: {unexplained}"
