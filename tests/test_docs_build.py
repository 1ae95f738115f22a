"""The project's own ``docs/`` builds with Sphinx, warnings as errors (as in CI), and its examples
page shows the bundled network's diagram and beam table."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from searchgraph import analyze
from searchgraph.interfaces.docsite import beam_rows

from .conftest import ROOT, need
from .test_docsite import Page, needs_render  # noqa: F401 -- a fixture


@pytest.mark.usefixtures("needs_render")
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    need(importlib.util.find_spec("sphinx") is not None and importlib.util.find_spec("myst_parser")
         is not None, "Sphinx and myst-parser are not installed (the docs extra)")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                           "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
                          check=False, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    for page in ("index", "architecture", "findings", "examples", "cli"):
        assert (out / f"{page}.html").is_file(), page

    text = (out / "examples.html").read_text()
    page = Page(text)
    assert page.svg >= 2  # the whole network, and the focused one
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))  # two diagrams on one page, no id twice
    tables = [rows for key, rows in page.all_tables if "searchgraph-beams" in key]
    analysis = analyze(ROOT / "examples" / "attention_decoder.config")
    layer_column = [[row[0] for row in rows[1:]] for rows in tables]
    assert layer_column == [[r["layer"] for r in beam_rows(analysis)], ["output/att", "output/output"]]
    assert tables[0][0] == ["layer", "class", "placement", "beam", "size", "choice", "error"]

    cli = (out / "cli.html").read_text()
    for command in ("beams", "plan", "diagnose", "docs"):
        assert f"usage: searchgraph {command}" in cli
