"""scripts/mutate.py on a tiny CMake project in a temporary folder: killed, survived, timed out,
did not compile, equivalent and stale mutants; the tree never mutated and its copy restored,
also after a failing build and after Ctrl-C; candidates from --generate that apply."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutate.py"
sys.path.insert(0, str(SCRIPT.parent))
import mutate  # noqa: E402

CMAKE = """cmake_minimum_required(VERSION 3.20)
project(fixture CXX)
add_library(calc STATIC src/calc.cpp)
add_executable(calc_test test/calc_test.cpp)
target_link_libraries(calc_test calc)
"""

CALC = """// What the fixture's mutants change.
int clamp_add(int a, int b) {
  int sum = a + b;
  if (sum > 100) sum = 100;
  return sum;
}

bool is_small(int x) { return x < 10; }

bool is_even(int x) { return x % 2 == 0 && true; }
"""

# Waits (a hang, for the timeout) when clamp_add(0, 0) is not 0, writing its pid to $MARK first.
CALC_TEST = """#include <unistd.h>
#include <cstdio>
#include <cstdlib>
int clamp_add(int, int);
bool is_small(int);
bool is_even(int);
int main() {
  if (clamp_add(0, 0) != 0) {
    if (const char* mark = std::getenv("MARK")) {
      if (FILE* f = std::fopen(mark, "w")) { std::fprintf(f, "%d", getpid()); std::fclose(f); }
    }
    for (;;) pause();
  }
  if (clamp_add(2, 3) != 5 || clamp_add(99, 99) != 100) return 1;
  if (!is_small(3) || is_small(50)) return 1;
  if (!is_even(4) || is_even(3)) return 1;
  return 0;
}
"""

LIST = """[suite]
targets = ["calc_test"]
tests = [["./calc_test"]]
timeout = {timeout}

[[mutation]]
id = "killed-return"
file = "src/calc.cpp"
anchor = "return sum;"
replacement = "return 0;"

[[mutation]]
id = "survives-boundary"
file = "src/calc.cpp"
anchor = "bool is_small(int x) {{ return x < 10; }}"
original = "<"
replacement = "<="

[[mutation]]
id = "hangs"
file = "src/calc.cpp"
anchor = "int sum = a + b;"
replacement = "int sum = a + b + 1;"

[[mutation]]
id = "broken"
file = "src/calc.cpp"
anchor = "return sum;"
replacement = "retur sum;"

[[mutation]]
id = "equivalent-and"
file = "src/calc.cpp"
anchor = "x % 2 == 0 && true"
original = " && true"
replacement = ""
equivalent = "&& true changes nothing"

[[mutation]]
id = "gone"
file = "src/calc.cpp"
anchor = "return total;"
replacement = ""

[[mutation]]
id = "twice"
file = "src/calc.cpp"
anchor = "int "
replacement = "long "
"""


class fixture(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mutate-test-")
        self.root = Path(self.tmp.name) / "project"
        (self.root / "src").mkdir(parents=True)
        (self.root / "test").mkdir()
        (self.root / "CMakeLists.txt").write_text(CMAKE)
        (self.root / "src" / "calc.cpp").write_text(CALC)
        (self.root / "test" / "calc_test.cpp").write_text(CALC_TEST)
        self.mark = Path(self.tmp.name) / "mark"

    def tearDown(self):
        self.tmp.cleanup()

    def write_list(self, timeout):
        path = Path(self.tmp.name) / "mutations.toml"
        path.write_text(LIST.format(timeout=timeout))
        return path

    def command(self, *extra, timeout=2):
        return [sys.executable, str(SCRIPT), "--root", str(self.root), "--list",
                str(self.write_list(timeout)), *extra]

    def env(self):
        return dict(os.environ, MARK=str(self.mark))

    def copy_of_calc(self):
        return (self.root / "build-mutate" / "src" / "src" / "calc.cpp").read_text()

    def test_every_outcome_is_reported_and_nothing_stays_mutated(self):
        before = (self.root / "src" / "calc.cpp").stat()
        r = subprocess.run(self.command(), capture_output=True, text=True, env=self.env(),
                           timeout=300)
        out = r.stdout
        self.assertEqual(r.returncode, 1, out + r.stderr)
        for status, mid in [("killed", "killed-return"), ("survived", "survives-boundary"),
                            ("timed out", "hangs"), ("did not compile", "broken")]:
            self.assertRegex(out, rf"\] {status} +{mid} +src/calc\.cpp:\d+")
        self.assertIn("tried 7: killed 2 (timed out 1), did not compile 1, equivalent 1, "
                      "survived 1, stale 2", out)
        self.assertIn("mutation score: 2/3 = 66.7%", out)
        self.assertIn("equivalent-and src/calc.cpp:10: && true changes nothing", out)
        self.assertIn("gone src/calc.cpp: anchor found 0 times (expected once)", out)
        self.assertIn("twice src/calc.cpp: anchor found 6 times (expected once)", out)
        self.assertIn("survives-boundary src/calc.cpp:8\n      - <\n      + <=", out)
        self.assertRegex(out, r"one mutant took \d+\.\d s on average")
        # The tree was never written; the copy is the original again (the last mutant run did
        # not compile: its restore came after a failing build).
        after = (self.root / "src" / "calc.cpp").stat()
        self.assertEqual((before.st_mtime_ns, before.st_ino), (after.st_mtime_ns, after.st_ino))
        self.assertEqual(self.copy_of_calc(), CALC)
        # The hanging test's process was killed with its group.
        pid = int(self.mark.read_text())
        self.assertFalse(Path(f"/proc/{pid}").exists(), "the hanging test is still running")

        # Only the killed one now: exit 0 (stale ones are not selected either).
        r = subprocess.run(self.command("--only", "killed-return", "broken"), capture_output=True,
                           text=True, env=self.env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("mutation score: 1/1 = 100.0%", r.stdout)

    def test_check_reports_stale_anchors_without_building(self):
        r = subprocess.run(self.command("--check"), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("gone: stale: src/calc.cpp: anchor found 0 times (expected once)", r.stdout)
        self.assertIn("7 mutations, 2 stale", r.stdout)
        self.assertFalse((self.root / "build-mutate").exists())

    def test_ctrl_c_restores_the_copy_and_stops_the_tests(self):
        proc = subprocess.Popen(self.command("--only", "hangs", timeout=120),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env())
        try:
            deadline = time.monotonic() + 240
            while not (self.mark.exists() and self.mark.read_text()):
                if proc.poll() is not None:
                    self.fail(f"mutate.py ended first: {proc.communicate()}")
                self.assertLess(time.monotonic(), deadline, "the mutant's test never started")
                time.sleep(0.1)
            self.assertIn("a + b + 1", self.copy_of_calc(), "the copy is mutated while it runs")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn("interrupted", err)
        self.assertEqual(self.copy_of_calc(), CALC)
        self.assertEqual((self.root / "src" / "calc.cpp").read_text(), CALC)
        pid = int(self.mark.read_text())
        self.assertFalse(Path(f"/proc/{pid}").exists(), "the mutant's test is still running")

    def test_a_copy_left_mutated_by_a_killed_run_is_repaired_first(self):
        copy = self.root / "build-mutate" / "src" / "src" / "calc.cpp"
        copy.parent.mkdir(parents=True)
        copy.write_text(CALC.replace("return sum;", "return 0;"))
        r = subprocess.run(self.command("--only", "survives-boundary"), capture_output=True,
                           text=True, env=self.env(), timeout=300)
        self.assertIn("baseline: built and tested", r.stdout, r.stderr)
        self.assertEqual(self.copy_of_calc(), CALC)


class anchors(unittest.TestCase):
    def m(self, anchor, original=None):
        return mutate.mutation(id="m", file="f", anchor=anchor, original=original,
                               replacement="X")

    def test_an_anchor_found_once_gives_the_line_of_the_original(self):
        text = "a\nif (x == 1) y();\nz\n"
        where = mutate.locate(text, self.m("if (x == 1) y();", "=="))
        self.assertEqual(where.line, 2)
        self.assertEqual(mutate.apply(text, where, self.m("", "")), "a\nif (x X 1) y();\nz\n")

    def test_stale_anchors_say_why(self):
        text = "f();\nf();\n"
        self.assertEqual(mutate.locate(text, self.m("g();")),
                         "anchor found 0 times (expected once)")
        self.assertEqual(mutate.locate(text, self.m("f();")),
                         "anchor found 2 times (expected once)")
        self.assertEqual(mutate.locate(text, self.m("f();\nf();", "f();")),
                         "original found 2 times in the anchor (expected once)")
        self.assertEqual(mutate.locate(text, self.m("f();\nf();", "g")),
                         "original found 0 times in the anchor (expected once)")


class generator(unittest.TestCase):
    def test_candidates_of_every_operator_each_applying_once(self):
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "calc.cpp"
            source.write_text(CALC + 'void log() { say("a < b"); f(!ok); }\n')
            listing = Path(tmp) / "list.toml"
            listing.write_text("[suite]\ntargets = []\ntests = []\n\n"
                               + mutate.generate(source, Path(tmp)))
            _, ms = mutate.load_list(listing)
            text = source.read_text()
        replacements = {m.replacement for m in ms}
        self.assertIn("", replacements)  # a statement deleted
        self.assertIn("if (sum > 101) sum = 100;", replacements)
        self.assertIn("if (sum <= 100) sum = 100;", replacements)
        self.assertIn("bool is_small(int x) { return x >= 10; }", replacements)
        self.assertIn("bool is_even(int x) { return x % 2 == 0 || true; }", replacements)
        self.assertIn("bool is_even(int x) { return x % 2 == 0 && false; }", replacements)
        self.assertIn('void log() { say("a < b"); f(ok); }', replacements)
        # Nothing inside a string literal or a comment.
        self.assertNotIn('void log() { say("a >= b"); f(!ok); }', replacements)
        for m in ms:
            where = mutate.locate(text, m)
            self.assertIsInstance(where, mutate.located, m)
            self.assertNotEqual(mutate.apply(text, where, m), text, m)


if __name__ == "__main__":
    unittest.main()
