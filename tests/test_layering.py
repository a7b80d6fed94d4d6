#!/usr/bin/python3
"""The code's layers, as the build declares them, hold in the code.

Each folder of harness/ is a CMake library (harness/<folder>/CMakeLists.txt) that names the
libraries it depends on. A file may include only headers of its own folder and of the
libraries its folder depends on, directly or through them; core/, backends/ and loadgen/
include nothing of harness/. The allowed directions are read from the CMake files, not
written here, so a new dependency is declared once, in the build.

    /usr/bin/python3 -m unittest -v tests.test_layering     (from the repository root)
"""

import re
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "harness"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
LINK = re.compile(r"target_link_libraries\(\s*(\S+)\s+(?:PUBLIC|PRIVATE|INTERFACE)\s+([^)]*)\)", re.S)
LIBRARY = re.compile(r"add_(?:library|executable)\(\s*(\S+)")
# The libraries outside harness/ and the folders they are built from.
BASE = {"muxbench_core": "core", "muxbench_backends": "backends", "muxbench_loadgen": "loadgen"}


def declared_dependencies(root=ROOT):
    """{folder: set of folders it may include} from the CMake files, transitively."""
    direct, folder_of = {}, dict(BASE)
    for cmake in sorted((root / "harness").glob("*/CMakeLists.txt")):
        text = cmake.read_text()
        folder = cmake.parent.name
        for target in LIBRARY.findall(text):
            folder_of[target] = folder
        deps = direct.setdefault(folder, set())
        for _, libs in LINK.findall(text):
            deps.update(lib for lib in libs.split() if lib.startswith("muxbench_"))
    direct.update({"core": set(), "backends": {"muxbench_core"}, "loadgen": {"muxbench_core"}})

    def closure(folder, seen):
        for lib in direct.get(folder, ()):
            dep = folder_of[lib]
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    return {folder: closure(folder, {folder}) for folder in direct}


def up_pointing_includes(root=ROOT):
    """['file:line includes header (folder X may not use folder Y)', ...]."""
    allowed = declared_dependencies(root)
    problems = []
    for source in sorted(root.glob("*/**/*.[ch]pp")):
        relative = source.relative_to(root)
        top = relative.parts[0]
        if top == "harness":
            folder = relative.parts[1] if len(relative.parts) > 2 else None
        elif top in ("core", "backends", "loadgen"):
            folder = top
        else:
            continue  # tests, tools: they may use every layer
        text = source.read_text()
        for match in INCLUDE.finditer(text):
            header = match.group(1)
            parts = header.split("/")
            if parts[0] == "harness" and len(parts) > 2:
                target = parts[1]
            elif parts[0] in BASE.values() and len(parts) > 1:
                target = parts[0]
            elif parts[0] == "harness":
                target = "harness (no folder)"
            else:
                continue
            if folder is None or target not in allowed.get(folder, {folder}):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{relative}:{line} includes {header}: {folder or 'harness/'} may not use {target} "
                                f"(declare the dependency in its CMakeLists.txt, or move the code down)")
    return problems


class Layering(unittest.TestCase):
    def test_every_include_points_down_a_declared_dependency(self):
        self.assertEqual(up_pointing_includes(), [])

    def test_every_harness_source_is_in_its_folders_library(self):
        loose = [str(p.relative_to(ROOT)) for p in HARNESS.glob("*.[ch]pp")]
        self.assertEqual(loose, [], "harness/ holds folders only, each a library")
        for folder in (p for p in HARNESS.iterdir() if p.is_dir()):
            cmake = (folder / "CMakeLists.txt").read_text()
            for source in folder.glob("*.cpp"):
                self.assertRegex(cmake, rf"\b{re.escape(source.name)}\b", f"{source} is in no library")

    def test_tests_link_the_libraries_instead_of_compiling_their_sources(self):
        for cmake in [ROOT / "tests" / "CMakeLists.txt", *ROOT.glob("tests/*/CMakeLists.txt")]:
            self.assertNotRegex(cmake.read_text(), r"(core|backends|loadgen|harness)/[\w/]+\.cpp",
                                f"{cmake.relative_to(ROOT)} compiles a library's source again")

    def test_a_planted_include_that_points_up_is_caught(self):
        # The check itself, on a copy of the tree's CMake files with one file that includes up.
        import shutil
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for cmake in HARNESS.glob("*/CMakeLists.txt"):
                (tmp / cmake.parent.relative_to(ROOT)).mkdir(parents=True)
                shutil.copy(cmake, tmp / cmake.relative_to(ROOT))
            (tmp / "harness/system/planted.cpp").write_text('#include "harness/run/measurement.hpp"\n')
            (tmp / "core").mkdir()
            (tmp / "core/planted.cpp").write_text('#include "harness/system/exit_status.hpp"\n')
            problems = up_pointing_includes(tmp)
            self.assertEqual(len(problems), 2, problems)
            self.assertIn("harness/system/planted.cpp:1 includes harness/run/measurement.hpp", problems[0] + problems[1])


if __name__ == "__main__":
    unittest.main()
