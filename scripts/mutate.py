#!/usr/bin/env python3
"""Mutation testing of a part of the tree: applies each mutation of a list, rebuilds only the test
targets the list names, runs the tests, and says which mutants the tests did not notice.

  scripts/mutate.py [--list scripts/mutations/supervision.toml] [--only ID ...]
  scripts/mutate.py --check                # only that every anchor still matches once
  scripts/mutate.py --generate FILE        # candidate mutations of FILE, for a person to curate

The list (TOML) names, per mutation, the file, an anchor found by its TEXT (it must occur
exactly once in the file: one that does not is reported as stale, never skipped silently), the
original snippet (exactly once inside the anchor; the anchor itself when left out), its
replacement, and optionally `equivalent = "why"` for a mutant no test can tell apart. Its
[suite] table says how to configure the build, which targets to build and which commands are
the tests.

The tree itself is never mutated: the sources are copied into <build-dir>/src (only files that
changed are rewritten, so the build stays incremental) and mutants are applied to that copy,
which is restored after each one (also on Ctrl-C or SIGTERM; a run killed outright is repaired
by the next, which compares the copy with the tree first). Exit status: 0 when every mutant was
killed or is equivalent, 1 when one survived or an anchor is stale, 2 when the tests fail
without any mutation or the build cannot be set up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LIST = ROOT / "scripts" / "mutations" / "supervision.toml"


# ---- the list -----------------------------------------------------------------------------------


@dataclasses.dataclass
class mutation:
    id: str
    file: str
    anchor: str
    replacement: str
    original: str | None = None
    equivalent: str | None = None


@dataclasses.dataclass
class suite:
    targets: list[str]
    tests: list[list[str]]
    configure: list[str] = dataclasses.field(default_factory=list)
    timeout: float = 120.0


class list_error(Exception):
    pass


def load_list(path: Path) -> tuple[suite, list[mutation]]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise list_error(f"{path}: {e}") from e
    s = doc.get("suite")
    if not isinstance(s, dict) or "targets" not in s or "tests" not in s:
        raise list_error(f"{path}: expected a [suite] table with `targets` and `tests`")
    unknown = set(s) - {"targets", "tests", "configure", "timeout"}
    if unknown:
        raise list_error(f"{path}: [suite]: unknown key(s) {sorted(unknown)}; valid: "
                         "targets, tests, configure, timeout")
    the_suite = suite(targets=list(s["targets"]), tests=[list(t) for t in s["tests"]],
                      configure=list(s.get("configure", [])),
                      timeout=float(s.get("timeout", 120)))
    mutations: list[mutation] = []
    seen: set[str] = set()
    fields = {f.name for f in dataclasses.fields(mutation)}
    for i, m in enumerate(doc.get("mutation", []), start=1):
        unknown = set(m) - fields
        missing = {"id", "file", "anchor", "replacement"} - set(m)
        if unknown or missing:
            raise list_error(f"{path}: mutation #{i} ({m.get('id', '?')}): "
                             + (f"unknown key(s) {sorted(unknown)}" if unknown else "")
                             + ("; " if unknown and missing else "")
                             + (f"missing {sorted(missing)}" if missing else "")
                             + f"; valid: {', '.join(sorted(fields))}")
        if m["id"] in seen:
            raise list_error(f"{path}: mutation id {m['id']!r} appears twice")
        seen.add(m["id"])
        mutations.append(mutation(**m))
    return the_suite, mutations


@dataclasses.dataclass
class located:
    start: int  # offset of the original in the file
    end: int
    line: int


def locate(text: str, m: mutation) -> located | str:
    """Where the mutation applies in `text`, or why it is stale."""
    count = text.count(m.anchor)
    if count != 1:
        return f"anchor found {count} times (expected once)"
    at = text.index(m.anchor)
    original = m.anchor if m.original is None else m.original
    inside = m.anchor.count(original)
    if inside != 1:
        return f"original found {inside} times in the anchor (expected once)"
    start = at + m.anchor.index(original)
    return located(start, start + len(original), text.count("\n", 0, start) + 1)


def apply(text: str, where: located, m: mutation) -> str:
    return text[:where.start] + m.replacement + text[where.end:]


# ---- the copy of the tree ---------------------------------------------------------------------


def tree_files(root: Path, build_dir: Path) -> list[str]:
    """The files of the working tree (tracked and untracked, not ignored), relative to root."""
    if (root / ".git").exists():
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-co", "--exclude-standard",
                              "-z"], check=True, capture_output=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    else:
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if (here / d).resolve() != build_dir.resolve()
                           and not d.startswith(("build", ".git"))]
            names += [str((here / f).relative_to(root)) for f in filenames]
    return [n for n in names if (root / n).is_file()]


def write_fresh(path: Path, data: bytes) -> None:
    # A fresh modification time, never the tree's: a restored file must look newer than the
    # objects built from its mutant, or the build would keep them.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".mutate-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sync_copy(root: Path, copy: Path, build_dir: Path) -> int:
    """Makes `copy` hold exactly the tree's files; returns how many were (re)written."""
    names = tree_files(root, build_dir)
    written = 0
    for n in names:
        data = (root / n).read_bytes()
        target = copy / n
        try:
            same = target.read_bytes() == data
        except OSError:
            same = False
        if not same:
            write_fresh(target, data)
            shutil.copymode(root / n, target)
            written += 1
    wanted = set(names)
    for dirpath, _, filenames in os.walk(copy):
        for f in filenames:
            p = Path(dirpath) / f
            if str(p.relative_to(copy)) not in wanted:
                p.unlink()
    return written


# ---- building and testing ---------------------------------------------------------------------


class interrupted(Exception):
    pass


def on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise interrupted(f"signal {signum}")


def run_bounded(argv: list[str], cwd: Path, timeout: float) -> tuple[str, str]:
    """Runs argv in its own process group: ('ok'|'failed'|'timeout', the output's tail)."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = "timeout"
    except BaseException:
        # Ctrl-C or SIGTERM: what this started goes with it.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return status, out.decode(errors="replace")[-4000:]


class builder:
    def __init__(self, root: Path, build_dir: Path, the_suite: suite, jobs: int):
        self.root = root
        self.src = build_dir / "src"
        self.bin = build_dir / "build"
        self.suite = the_suite
        self.jobs = jobs
        self.build_dir = build_dir

    def prepare(self) -> None:
        self.src.mkdir(parents=True, exist_ok=True)
        sync_copy(self.root, self.src, self.build_dir)
        if not (self.bin / "CMakeCache.txt").exists():
            argv = ["cmake", "-S", str(self.src), "-B", str(self.bin)]
            if shutil.which("ninja"):
                argv += ["-G", "Ninja"]
            if shutil.which("ccache"):
                argv += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
                         "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
            status, out = run_bounded(argv + self.suite.configure, self.root, 600)
            if status != "ok":
                raise list_error(f"configuring {self.bin} failed:\n{out}")

    def build(self) -> tuple[bool, str]:
        status, out = run_bounded(["cmake", "--build", str(self.bin), "-j", str(self.jobs),
                                   "--target", *self.suite.targets], self.root, 1800)
        return status == "ok", out

    def test(self, timeout: float) -> tuple[str, str]:
        for argv in self.suite.tests:
            status, out = run_bounded(argv, self.bin, timeout)
            if status != "ok":
                return status, f"{' '.join(argv)}:\n{out}"
        return "ok", ""


# ---- the run ----------------------------------------------------------------------------------


@dataclasses.dataclass
class outcome:
    m: mutation
    status: str  # killed, timed out, did not compile, survived, equivalent, stale
    where: str
    seconds: float = 0.0
    detail: str = ""


def first_error(build_output: str) -> str:
    for line in build_output.splitlines():
        if "error" in line:
            return line.strip()[:200]
    return build_output.strip().splitlines()[-1][:200] if build_output.strip() else ""


def diff_lines(m: mutation) -> str:
    original = m.anchor if m.original is None else m.original
    minus = "\n".join("      - " + l for l in original.splitlines() or [""])
    plus = "\n".join("      + " + l for l in m.replacement.splitlines() or [""])
    return minus + "\n" + plus


def run(args) -> int:
    root = args.root.resolve()
    build_dir = (root / args.build_dir).resolve() if not args.build_dir.is_absolute() \
        else args.build_dir
    the_suite, mutations = load_list(args.list)
    if args.only:
        unknown = set(args.only) - {m.id for m in mutations}
        if unknown:
            raise list_error(f"no mutation {sorted(unknown)} in {args.list}")
        mutations = [m for m in mutations if m.id in args.only]

    outcomes: list[outcome] = []
    runnable: list[tuple[mutation, located]] = []
    for m in mutations:
        path = root / m.file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            outcomes.append(outcome(m, "stale", m.file, detail=str(e.strerror)))
            continue
        where = locate(text, m)
        if isinstance(where, str):
            outcomes.append(outcome(m, "stale", m.file, detail=where))
        elif m.equivalent is not None and not args.run_equivalent:
            outcomes.append(outcome(m, "equivalent", f"{m.file}:{where.line}", detail=m.equivalent))
        else:
            runnable.append((m, where))
    if args.check:
        for o in outcomes:
            if o.status == "stale":
                print(f"{o.m.id}: stale: {o.where}: {o.detail}")
        stale = sum(o.status == "stale" for o in outcomes)
        print(f"{len(mutations)} mutations, {stale} stale")
        return 1 if stale else 0

    old_term = signal.signal(signal.SIGTERM, on_sigterm)
    b = builder(root, build_dir, the_suite, args.jobs)
    try:
        started = time.monotonic()
        b.prepare()
        ok, out = b.build()
        if not ok:
            print(f"the unmutated tree does not build:\n{out}", file=sys.stderr)
            return 2
        t0 = time.monotonic()
        status, out = b.test(the_suite.timeout)
        baseline = time.monotonic() - t0
        if status != "ok":
            print(f"the tests fail without any mutation ({status}):\n{out}", file=sys.stderr)
            return 2
        timeout = min(the_suite.timeout, max(10.0, 10 * baseline))
        print(f"baseline: built and tested in {time.monotonic() - started:.1f} s (tests "
              f"{baseline:.1f} s; a mutant's tests time out after {timeout:.0f} s)", flush=True)

        for i, (m, where) in enumerate(runnable, start=1):
            o = run_one(b, m, where, timeout)
            outcomes.append(o)
            print(f"[{i:>3}/{len(runnable)}] {o.status:<15} {m.id:<40} {o.where}  "
                  f"({o.seconds:.1f} s)", flush=True)
    except (KeyboardInterrupt, interrupted) as e:
        print(f"\ninterrupted ({e or 'Ctrl-C'}); the copy in {b.src} is restored", file=sys.stderr)
        return 130
    except list_error as e:
        print(e, file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, old_term)
    return summarize(outcomes)


def run_one(b: builder, m: mutation, where: located, timeout: float) -> outcome:
    target = b.src / m.file
    original = target.read_bytes()
    text = original.decode("utf-8")
    started = time.monotonic()
    loc = f"{m.file}:{where.line}"
    try:
        write_fresh(target, apply(text, where, m).encode("utf-8"))
        ok, out = b.build()
        if not ok:
            return outcome(m, "did not compile", loc, time.monotonic() - started, first_error(out))
        status, out = b.test(timeout)
        status = {"ok": "survived", "failed": "killed", "timeout": "timed out"}[status]
        return outcome(m, status, loc, time.monotonic() - started, out)
    finally:
        # Always, whatever happened: Ctrl-C and SIGTERM arrive here as exceptions.
        write_fresh(target, original)


def summarize(outcomes: list[outcome]) -> int:
    by = {s: [o for o in outcomes if o.status == s]
          for s in ("killed", "timed out", "did not compile", "survived", "equivalent", "stale")}
    killed = len(by["killed"]) + len(by["timed out"])
    survived = len(by["survived"])
    ran = [o for o in outcomes if o.seconds > 0]
    print()
    print(f"tried {len(outcomes)}: killed {killed} (timed out {len(by['timed out'])}), "
          f"did not compile {len(by['did not compile'])}, equivalent {len(by['equivalent'])}, "
          f"survived {survived}, stale {len(by['stale'])}")
    if ran:
        print(f"one mutant took {sum(o.seconds for o in ran) / len(ran):.1f} s on average "
              "(rebuild and tests)")
    if killed + survived:
        print(f"mutation score: {killed}/{killed + survived} = "
              f"{100.0 * killed / (killed + survived):.1f}% (killed / (killed + survived))")
    for o in by["did not compile"]:
        print(f"  did not compile: {o.m.id} {o.where}: {o.detail}")
    if by["equivalent"]:
        print("equivalent (not run):")
        for o in by["equivalent"]:
            print(f"  {o.m.id} {o.where}: {o.m.equivalent}")
    if by["stale"]:
        print("stale (the list needs curating):")
        for o in by["stale"]:
            print(f"  {o.m.id} {o.where}: {o.detail}")
    if by["survived"]:
        print("survived:")
        for o in by["survived"]:
            note = f" (marked equivalent: {o.m.equivalent})" if o.m.equivalent else ""
            print(f"  {o.m.id} {o.where}{note}\n{diff_lines(o.m)}")
    for o in by["killed"] + by["timed out"]:
        if o.m.equivalent is not None:
            print(f"  note: {o.m.id} is marked equivalent but was killed: remove the note")
    bad = [o for o in by["survived"] if o.m.equivalent is None] + by["stale"]
    return 1 if bad else 0


# ---- the generator ----------------------------------------------------------------------------

FLIPS = [(" == ", " != ", "ne"), (" != ", " == ", "eq"), (" < ", " >= ", "ge"),
         (" >= ", " < ", "lt"), (" > ", " <= ", "le"), (" <= ", " > ", "gt"),
         (" && ", " || ", "or"), (" || ", " && ", "and")]
WORDS = [("true", "false"), ("false", "true")]
NUMBER = re.compile(r"(?<![\w.'])(\d+)(ms|us|ns|min|s|h|u|U|l|L|ul|UL|ull|ULL)?(?![\w.'])")
NOT = re.compile(r"(?<![\w)\]])!(?!=)")
DECLARATION = re.compile(
    r"^(?:static\s+|constexpr\s+|const\s+|inline\s+)*[\w:<>,\s]+?[\s&*]+\w+\s*(?:=|\{|\(|;)")
NOT_STATEMENTS = ("return", "case ", "default:", "using ", "namespace", "struct ", "class ",
                  "enum ", "template", "typedef", "public:", "private:", "protected:", "#",
                  "break;", "continue;", "}", "{")


def code_mask(line: str, in_block: bool) -> tuple[list[bool], bool]:
    """Which characters of `line` are code (not in a comment or a literal), and whether a block
    comment is still open at its end."""
    mask = [False] * len(line)
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return mask, True
            i, in_block = end + 2, False
            continue
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            in_block, i = True, i + 2
            continue
        c = line[i]
        if c in "\"'":
            j = i + 1
            while j < len(line) and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            i = j + 1
            continue
        mask[i] = True
        i += 1
    return mask, in_block


def toml_string(s: str) -> str:
    if "\n" not in s and "'" not in s:
        return f"'{s}'"
    if "\n" in s and "'''" not in s and not s.endswith("'"):
        return "'''\n" + s + "'''"
    return json.dumps(s, ensure_ascii=False)


def unique_anchor(text: str, lines: list[str], index: int) -> tuple[str, str | None] | None:
    """An anchor around line `index` that occurs once in `text` and the original (None when it
    is the anchor itself), widened upwards line by line until it is unique."""
    stripped = lines[index].strip()
    if text.count(stripped) == 1:
        return stripped, None
    for first in range(index - 1, max(-1, index - 6), -1):
        anchor = lines[first].lstrip() + "\n" + "\n".join(lines[first + 1:index + 1])
        anchor = anchor.rstrip()
        if text.count(anchor) == 1 and anchor.count(stripped) == 1:
            return anchor, stripped
    return None


def generate(path: Path, root: Path) -> str:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    try:
        rel = str(path.resolve().relative_to(root))
    except ValueError:
        rel = str(path)
    stem = path.stem
    out = [f"# Candidate mutations of {rel} (scripts/mutate.py --generate).",
           "# Keep the ones worth testing, drop the rest, give them telling ids, and mark those",
           "# no test can tell apart with equivalent = \"why\". Line numbers are for reading only.",
           ""]
    count = 0
    in_block = False
    previous_code = ""
    for index, line in enumerate(lines):
        mask, still_in_block = code_mask(line, in_block)
        code = "".join(c if m else " " for c, m in zip(line, mask)).rstrip()
        in_block = still_in_block
        stripped = line.strip()
        if not code.strip():
            continue
        candidates: list[tuple[str, str, str]] = []  # (what, id slug, mutated line)

        starts_statement = previous_code.endswith((";", "{", "}", ":"))
        if (starts_statement and code.endswith(";") and code.count("(") == code.count(")")
                and not stripped.startswith(NOT_STATEMENTS)
                and not DECLARATION.match(code.strip())):
            candidates.append(("delete the statement", "delete", ""))

        def replaced(start: int, end: int, new: str) -> str:
            return line[:start] + new + line[end:]

        for old, new, slug in FLIPS:
            for mt in re.finditer(re.escape(old), code):
                candidates.append((f"'{old.strip()}' -> '{new.strip()}'", slug,
                                   replaced(mt.start(), mt.end(), new)))
        for old, new in WORDS:
            for mt in re.finditer(rf"\b{old}\b", code):
                candidates.append((f"{old} -> {new}", new, replaced(mt.start(), mt.end(), new)))
        for mt in NOT.finditer(code):
            candidates.append(("drop '!'", "not", replaced(mt.start(), mt.end(), "")))
        if not stripped.startswith("#"):
            for mt in NUMBER.finditer(code):
                n = int(mt.group(1))
                changed = 1 if n == 0 else 0 if n == 1 else n + 1
                candidates.append((f"constant {n} -> {changed}", "constant",
                                   replaced(mt.start(1), mt.end(1), str(changed))))
        previous_code = code.strip()
        if not candidates:
            continue
        found = unique_anchor(text, lines, index)
        if found is None:
            out.append(f"# line {index + 1}: no unique anchor within 5 lines, left out: "
                       f"{stripped}")
            continue
        anchor, original = found
        for what, slug, mutated in candidates:
            count += 1
            out.append(f"# line {index + 1}: {what}")
            out.append("[[mutation]]")
            out.append(f"id = {toml_string(f'{stem}-{count:03d}-{slug}')}")
            out.append(f"file = {toml_string(rel)}")
            out.append(f"anchor = {toml_string(anchor)}")
            if original is not None:
                out.append(f"original = {toml_string(original)}")
            out.append(f"replacement = {toml_string(mutated.strip())}")
            out.append("")
    out.insert(3, f"# {count} candidates")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", type=Path, default=DEFAULT_LIST, help="the mutations (TOML)")
    p.add_argument("--root", type=Path, default=ROOT, help="the tree the list's files are in")
    p.add_argument("--build-dir", type=Path, default=Path("build-mutate"),
                   help="the copy of the tree and its build (relative to --root)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these mutations")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--run-equivalent", action="store_true",
                   help="run the mutants marked equivalent too (to check the notes)")
    p.add_argument("--check", action="store_true",
                   help="only check that every anchor matches once; build nothing")
    p.add_argument("--generate", type=Path, metavar="FILE",
                   help="print candidate mutations of FILE (TOML) and exit")
    args = p.parse_args(argv)
    if args.generate:
        sys.stdout.write(generate(args.generate, args.root.resolve()))
        return 0
    try:
        return run(args)
    except list_error as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
