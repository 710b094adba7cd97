"""The README runs as written: every ```python and ```console block, in document order, in one
temporary folder, with the values it shows checked.

Conventions (the README's "Reading the examples" says the same to its readers):

* A python block runs in a fresh namespace, unless its first line is a comment starting
  ``# (continues``: then it runs in the namespace of the block before it.
* ``expression  # -> shown`` checks the expression's repr against ``shown``; ``...`` in
  ``shown`` stands for any text (what varies with the machine: timings, ISA names).
  ``statement  # -> SomeError: message`` checks that the statement raises SomeError with a
  message that matches (``...`` again a wildcard).
* A console block is ``$ command`` lines, each followed by the output it prints; ``frugalnn``
  runs as ``python -m frugalnn`` with this interpreter. A line ``...`` in the output stands
  for any number of lines, and ``...`` inside a line for any text.
* ```bash blocks (installation) are not run here: CI runs the two set-up commands itself.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(text: str) -> list[tuple[str, int, str]]:
    """(language, first line number, body) of every fenced block."""
    out, lang, start, body = [], None, 0, []
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m and lang is None:
            lang, start, body = m.group(1), n + 1, []
        elif line.startswith("```") and lang is not None:
            out.append((lang, start, "\n".join(body)))
            lang = None
        elif lang is not None:
            body.append(line)
    return out


def wildcard(shown: str) -> re.Pattern:
    """A pattern for shown text: ``...`` matches anything, whitespace runs any whitespace."""
    parts = [r"\s+".join(map(re.escape, p.split())) for p in shown.strip().split("...")]
    return re.compile(r"\s*" + ".*?".join(parts) + r"\s*", re.S)


def matches(shown: str, got: str) -> bool:
    return wildcard(shown).fullmatch(got.strip()) is not None


def _shown(lines: list[str], stmt: ast.stmt) -> str | None:
    """The ``# -> ...`` text on a statement's last line, if any."""
    last = lines[stmt.end_lineno - 1]
    i = last.find("# -> ")
    return last[i + 5:] if i >= 0 else None


def run_python(body: str, namespace: dict, where: str) -> None:
    lines = body.splitlines()
    tree = ast.parse(body, where)
    for stmt in tree.body:
        shown = _shown(lines, stmt)
        code_where = f"{where}, line {stmt.lineno}"
        error = re.match(r"(\w+(?:Error|Exception|Warning)): (.*)", shown) if shown else None
        if error:
            with pytest.raises(BaseException) as e:
                exec(compile(ast.Module([stmt], []), where, "exec"), namespace)
            assert type(e.value).__name__ == error.group(1), f"{code_where}: raised {e.value!r}"
            assert matches(error.group(2), str(e.value)), f"{code_where}: {e.value} does not match {shown}"
        elif shown is not None and isinstance(stmt, ast.Expr):
            value = eval(compile(ast.Expression(stmt.value), where, "eval"), namespace)
            assert matches(shown, repr(value)), f"{code_where}: got {value!r}, the README shows {shown}"
        else:
            assert shown is None, f"{code_where}: a '# ->' value needs an expression or an error"
            exec(compile(ast.Module([stmt], []), where, "exec"), namespace)


def run_console(body: str, where: str, cwd: pathlib.Path) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"{where}: output before any command"
            commands[-1][1].append(line)
    env = dict(os.environ, COLUMNS="100")
    for command, shown in commands:
        argv = shlex.split(command.split("  #")[0])
        if argv[0] == "frugalnn":
            argv = [sys.executable, "-m", "frugalnn"] + argv[1:]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
        got = (r.stdout + r.stderr).rstrip("\n")
        assert matches("\n".join(shown), got), f"{where}: `{command}` printed\n{got}\nthe README shows\n" + "\n".join(shown)


@pytest.mark.slow
def test_readme_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = README.read_text()
    namespace: dict = {}
    ran = 0
    for lang, line, body in blocks(text):
        where = f"README.md:{line}"
        if lang == "python":
            if not body.lstrip().startswith("# (continues"):
                namespace = {"__name__": "__readme__"}
            with contextlib.redirect_stdout(io.StringIO()):
                run_python(body, namespace, where)
            ran += 1
        elif lang == "console":
            run_console(body, where, tmp_path)
            ran += 1
    assert ran >= 8, "the README lost its examples"


@pytest.mark.parametrize("shown, got, ok", [
    ("[1, 2, 3]", "[1, 2, 3]", True), ("[1, ...]", "[1, 2, 3]", True), ("[1, 2]", "[1, 2, 3]", False),
    ("a ... b", "a x\ny b", True), ("12.5 us", "13.0 us", False), ("... us", "13.0 us", True),
])
def test_the_matcher(shown, got, ok):
    assert matches(shown, got) is ok
