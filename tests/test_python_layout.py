#!/usr/bin/python3
"""The layout of the Python side, read with `ast` without running it: no module of scripts/
imports itself back through others (an import circle), the bench binary is located in one
place (scripts/muxbench/bench_binary.py), and modules and functions stay small enough to read.

    /usr/bin/python3 -m unittest -v tests.test_python_layout     (from the repository root)
"""

import ast
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def python_files(directory):
    """Every .py below `directory`, and the Python scripts without the suffix (by their #! line)."""
    files = [f for f in sorted(directory.rglob("*.py")) if "__pycache__" not in f.parts]
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix == "":
            first_line = path.read_bytes().split(b"\n", 1)[0]
            if first_line.startswith(b"#!") and b"python" in first_line:
                files.append(path)
    return files


def module_name(path):
    """scripts/compare.py -> 'compare', scripts/muxbench/gate/grid.py -> 'muxbench.gate.grid',
    scripts/muxbench/__init__.py -> 'muxbench', scripts/crosscheck -> 'crosscheck'."""
    parts = list(path.relative_to(SCRIPTS).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree, name, is_package):
    """Every module name an import statement anywhere in the tree (functions included) may
    load: for `from a.b import c` both 'a.b' and 'a.b.c'; relative imports resolved."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def import_graph(files):
    """{module: {project modules it imports}}, parent packages included (importing a.b runs a)."""
    paths = {module_name(p): p for p in files}
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for imported in imported_names(tree, name, path.name == "__init__.py"):
            parts = imported.split(".")
            edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & paths.keys()
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import circle as [a, b, ..., a], or None when the graph has none."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


class ImportCircles(unittest.TestCase):
    def test_no_module_of_scripts_imports_itself_back(self):
        graph = import_graph(python_files(SCRIPTS))
        self.assertIn("muxbench.plots.figure", graph)
        self.assertIn("crosscheck", graph)
        cycle = find_cycle(graph)
        self.assertIsNone(cycle, f"import circle: {' -> '.join(cycle or [])}")

    def test_the_figure_helpers_import_no_plot_kind(self):
        graph = import_graph(python_files(SCRIPTS))
        kinds = {m for m in graph if m.startswith("muxbench.plots.") and m != "muxbench.plots.figure"}
        self.assertEqual(graph["muxbench.plots.figure"] & kinds, set())

    def test_the_check_finds_a_circle(self):
        self.assertEqual(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}), ["a", "b", "c", "a"])
        self.assertEqual(find_cycle({"a": {"a"}}), ["a", "a"])
        self.assertIsNone(find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}))

    def test_relative_and_from_imports_resolve_to_modules(self):
        tree = ast.parse("from . import figure\nfrom ..gate import grid\nimport muxbench.stats\n")
        names = imported_names(tree, "muxbench.plots.rates", is_package=False)
        self.assertIn("muxbench.plots.figure", names)
        self.assertIn("muxbench.gate.grid", names)
        self.assertIn("muxbench.stats", names)


class SharedHelpers(unittest.TestCase):
    def test_the_bench_binary_is_found_in_one_place(self):
        found = []
        for path in python_files(SCRIPTS) + python_files(ROOT / "tests"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "find_bench"]
        self.assertEqual(len(found), 1, f"def find_bench more than once, or not at all: {found}")
        self.assertTrue(found[0].startswith("scripts/muxbench/bench_binary.py:"), found)


class Sizes(unittest.TestCase):
    def test_modules_and_functions_stay_readable(self):
        for path in python_files(SCRIPTS):
            text = path.read_text(encoding="utf-8")
            rel = path.relative_to(ROOT)
            self.assertLessEqual(text.count("\n"), MAX_MODULE_LINES, f"{rel}: split it")
            for node in ast.walk(ast.parse(text, filename=str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    self.assertLessEqual(length, MAX_FUNCTION_LINES, f"{rel}:{node.lineno} {node.name}")


if __name__ == "__main__":
    unittest.main()
