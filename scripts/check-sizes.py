#!/usr/bin/env python3
"""Checks that core/ stays in rooms that fit: no file over 500 lines, no function over 60.

A function's size is the number of lines from the line of its body's opening brace to the line
of its closing brace, both included (so `void f() {` ... `}` on lines 10 and 70 is 61 lines).
Functions are definitions at namespace or class scope (free functions, member functions defined
in or out of their class, constructors with their initializer lists) and lambdas that are not
inside a function (a namespace-scope `const auto f = [](...) {...};` or a table of lambdas).
A lambda or local class inside a function counts as part of that function: the reader has to
read it there. A file's size is its number of lines, whatever the file is.

This is a tokenizer with a brace stack, not a C++ parser: it strips comments, string and
character literals (raw strings too) and preprocessor lines, then decides at each `{` outside
a function what it opens (namespace, class, enum, initializer, function body). That is reliable
for code formatted by .clang-format as plughost's is; tests/scripts/check_sizes_test.py holds
the cases it must get right.

Usage: scripts/check-sizes.py [--root DIR] [PATH ...]   (default: core, relative to the root)
Prints `file:line: function NAME is N lines (limit 60)` and `file: N lines (limit 500)` for each
breach, and exits 1 if there is one.
"""

import argparse
import os
import re
import sys

FILE_LIMIT = 500
FUNCTION_LIMIT = 60
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc", ".hh", ".c", ".cpp.in", ".hpp.in", ".h.in")

# issue 24: being split by others. These files are skipped until their split lands; the lead
# empties this list, after which the checker covers all of core/ again.
PENDING = [
]

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<ident>[A-Za-z_]\w*)
      | (?P<number>\.?\d(?:[\w.']|[eEpP][+-])*)
      | (?P<punct>::|->|\[\[|\]\]|[{}()\[\];:,=<>~!&|^%*/+\-.?#@$\\"'])
    """,
    re.VERBOSE,
)


def strip_text(text):
    """Returns text with comments, literals and preprocessor lines blanked, newlines kept.

    Literals become a single `"` so the token stream still shows that something was there.
    """
    out = []
    i = 0
    n = len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#":
            # A preprocessor line, with its backslash continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append("\n")
                    i += 2
                    continue
                i += 1
            continue
        if c == "\n":
            out.append(c)
            line_start = True
            i += 1
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end
            continue
        raw = re.match(r'(?:u8|[uUL])?R"([^(\s\\]{0,16})\(', text[i:i + 24])
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = ")" + raw.group(1) + '"'
            end = text.find(close, i + raw.end())
            end = n if end < 0 else end + len(close)
            out.append('"' + "\n" * text.count("\n", i, end))
            i = end
            continue
        if c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            # A string or character literal (a ' after a digit is a digit separator).
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append('"')
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def tokenize(text):
    """Yields (token, line) for the stripped text."""
    line = 1
    for m in _TOKEN.finditer(text):
        value = m.group(0)
        if m.lastgroup == "ws":
            line += value.count("\n")
            continue
        yield value, line


class _Frame:
    """One open brace: what it opens, where, and (for a function) its name."""

    def __init__(self, kind, line, name=None):
        self.kind = kind  # namespace, class, data, function
        self.line = line
        self.name = name


def _skip_template_prefix(statement):
    """Returns statement without leading `template <...>` and `[[...]]` parts."""
    i = 0
    while i < len(statement):
        if statement[i] == "template" and i + 1 < len(statement) and statement[i + 1] == "<":
            depth = 0
            i += 1
            while i < len(statement):
                if statement[i] == "<":
                    depth += 1
                elif statement[i] == ">":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
            continue
        if statement[i] == "[[":
            while i < len(statement) and statement[i] != "]]":
                i += 1
            i += 1
            continue
        break
    return statement[i:]


def _matching_open(tokens, close_index, open_tok, close_tok):
    """Index of the token opening the bracket closed at close_index, or -1."""
    depth = 0
    for i in range(close_index, -1, -1):
        if tokens[i] == close_tok:
            depth += 1
        elif tokens[i] == open_tok:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _is_lambda_body(tokens):
    """True if the `{` following tokens opens a lambda's body."""
    i = len(tokens) - 1
    # A trailing return type: `] (...) -> type {`; look back a few tokens for the arrow.
    for back in range(i, max(i - 12, -1), -1):
        if tokens[back] in (";", "{", "}"):
            break
        if tokens[back] == "->":
            i = back - 1
            break
    while i >= 0 and tokens[i] in ("mutable", "constexpr", "noexcept", "static"):
        i -= 1
    if i < 0:
        return False
    if tokens[i] == ")":
        opening = _matching_open(tokens, i, "(", ")")
        if opening > 0 and tokens[opening - 1] == "noexcept":
            return _is_lambda_body(tokens[: opening - 1] + ["noexcept"]) if opening > 1 else False
        return opening > 0 and tokens[opening - 1] == "]"
    return tokens[i] == "]"


def _merge_operators(statement):
    """Returns statement with `operator` and its symbol as one token (`operator<<`), so that its
    `<`, `=` or `(` is no template bracket, assignment or parameter list."""
    merged = []
    i = 0
    while i < len(statement):
        tok = statement[i]
        if tok == "operator" and i + 1 < len(statement):
            if statement[i + 1 : i + 3] == ["(", ")"]:
                merged.append("operator()")
                i += 3
                continue
            j = i + 1
            while j < len(statement) and statement[j] != "(":
                j += 1
            merged.append("operator" + "".join(statement[i + 1 : j]))
            i = j
            continue
        merged.append(tok)
        i += 1
    return merged


def _function_name(merged):
    """The declarator's name: the (qualified) name before the first top-level `(`."""
    depth = 0
    for i, tok in enumerate(merged):
        if tok == "<":
            depth += 1
        elif tok == ">" and depth > 0:
            depth -= 1
        elif tok == "(" and depth == 0 and i > 0:
            start = i - 1
            if start > 0 and merged[start - 1] == "~":
                start -= 1
            while start >= 2 and merged[start - 1] == "::":
                start -= 2
            return "".join(merged[start:i])
    return "?"


def _has_ctor_initializers(statement):
    """True if statement is a declarator followed by a constructor's `:` initializer list."""
    depth = 0
    seen_parameters = False
    for tok in statement:
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth == 0:
                seen_parameters = True
        elif tok == ":" and depth == 0 and seen_parameters:
            return True
    return False


def _classify(statement):
    """Decides what a `{` at namespace or class scope opens, given the tokens before it."""
    body = _merge_operators(_skip_template_prefix(statement))
    if not body:
        return "data", None
    first = body[0]
    if first == "namespace" or body[:2] == ["inline", "namespace"]:
        return "namespace", None
    if first == "extern" and len(body) >= 2 and body[1] == '"':
        return "namespace", None
    if first in ("class", "struct", "union"):  # `struct alignas(64) x {` is a class too
        return "class", None
    if first == "enum":
        return "data", None
    if _is_lambda_body(body):
        name = "lambda"
        if "=" in body:
            eq = body.index("=")
            if eq > 0:
                name = "lambda " + body[eq - 1]
        return "function", name
    top_level_assign = False
    depth = 0
    for i, tok in enumerate(body):
        if tok in ("(", "["):
            depth += 1
        elif tok in (")", "]"):
            depth -= 1
        elif tok == "=" and depth == 0:
            top_level_assign = True
            break
    if top_level_assign or depth > 0:
        return "data", None  # an initializer, or a brace inside an unfinished call
    if "(" not in body:
        return "data", None  # `int x{3};`, `std::atomic<bool> stop_{false};`
    if _has_ctor_initializers(body) and (re.match(r"\w", body[-1]) or body[-1] == ">"):
        return "data", None  # a brace-initialized member in an initializer list
    return "function", _function_name(body)


def functions(text):
    """Yields (name, first_line, line_count) for each function in a C++ source text."""
    stack = []  # open braces
    statement = []  # tokens since the last statement boundary at the current non-function scope
    statements = []  # the statements of enclosing scopes, restored when a data brace closes
    for tok, line in tokenize(strip_text(text)):
        in_function = any(f.kind == "function" for f in stack)
        in_data = bool(stack) and stack[-1].kind == "data"
        if tok == "{":
            if in_function:
                stack.append(_Frame("block", line))
                continue
            if in_data and not _is_lambda_body(statement):
                stack.append(_Frame("data", line))
                statements.append(statement)
                statement = []
                continue
            kind, name = ("function", "lambda") if in_data else _classify(statement)
            stack.append(_Frame(kind, line, name))
            statements.append(statement)
            statement = []
            continue
        if tok == "}":
            if not stack:
                continue  # unbalanced (a macro's half): ignore
            frame = stack.pop()
            statement = statements.pop() if frame.kind != "block" and statements else statement
            if frame.kind == "function":
                yield frame.name, frame.line, line - frame.line + 1
                if stack and stack[-1].kind == "data":
                    statement.append("}")
                else:
                    statement = []  # a definition ends the statement (no `;` after it)
            elif frame.kind == "data":
                statement.append("}")  # the initializer ends at its `;`
            elif frame.kind in ("namespace", "class"):
                statement = []
            continue
        if in_function:
            continue
        if tok == ";":
            statement = []
        elif tok == ":" and statement and statement[-1] in ("public", "private", "protected"):
            statement = []
        else:
            statement.append(tok)


def check_file(path, display):
    """Returns the breaches of one file, as printable lines."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        return [f"{display}: cannot read: {e.strerror}"]
    breaches = []
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if lines > FILE_LIMIT:
        breaches.append(f"{display}: {lines} lines (limit {FILE_LIMIT})")
    if display.endswith(SOURCE_SUFFIXES):
        for name, line, count in functions(text):
            if count > FUNCTION_LIMIT:
                breaches.append(
                    f"{display}:{line}: function {name} is {count} lines (limit {FUNCTION_LIMIT})"
                )
    return breaches


def files_under(root, paths):
    """The files to check, as (path, path relative to root), sorted."""
    found = []
    for p in paths:
        full = os.path.join(root, p)
        if os.path.isfile(full):
            found.append(full)
            continue
        for directory, dirs, names in os.walk(full):
            dirs.sort()
            found.extend(os.path.join(directory, n) for n in names)
    return sorted((f, os.path.relpath(f, root)) for f in found)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("paths", nargs="*", default=["core"])
    args = parser.parse_args(argv)
    breaches = []
    for path, display in files_under(args.root, args.paths):
        if display in PENDING:
            continue
        breaches.extend(check_file(path, display))
    for b in breaches:
        print(b)
    if breaches:
        print(
            f"check-sizes: {len(breaches)} over the limits; split along a real seam "
            "(CONTRIBUTING.md, 'Rooms that fit')",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
