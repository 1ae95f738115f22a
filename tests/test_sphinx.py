"""The Sphinx extension ``searchgraph.interfaces.sphinx``: the ``searchgraph`` directive in a small project.

Each test builds a throw-away Sphinx project in-process and reads the HTML and the warnings back.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from searchgraph import analyze
from searchgraph.interfaces.docsite import beam_rows
from searchgraph.interfaces.sphinx import inline_svg
from searchgraph.loading import load

from .conftest import ROOT, need
from .test_docsite import BROKEN, HAVE_DIAGRAMS, TWO_CHOICES, Page, needs_render  # noqa: F401 -- a fixture

#: The bundled example as the directive names it: copied into each test project's source folder.
EXAMPLE = "net/attention_decoder.config"
SOURCE = ROOT / "examples" / "attention_decoder.config"


@pytest.fixture(autouse=True)
def needs_sphinx() -> None:
    need(importlib.util.find_spec("sphinx") is not None, "Sphinx is not installed (the docs extra)")


def build(tmp_path: Path, pages: dict[str, str]) -> tuple[Path, str]:
    """Build an rst project with these pages (``index`` lists the others) and return the HTML
    folder and the warnings."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["searchgraph.interfaces.sphinx"]\nproject = "t"\n')
    (src / "net").mkdir()
    (src / "net" / "two_choices.json").write_text(json.dumps(TWO_CHOICES))
    (src / "net" / "broken.config").write_text(BROKEN)
    shutil.copy(SOURCE, src / "net")
    others = [name for name in pages if name != "index"]
    index = pages.get("index", "Index\n=====\n")
    (src / "index.rst").write_text(index + "\n.. toctree::\n\n" + "".join(f"   {n}\n" for n in others))
    for name, text in pages.items():
        if name != "index":
            (src / f"{name}.rst").write_text(text)
    warnings = io.StringIO()
    with docutils_namespace():  # directives registered by one build do not leak into the next
        app = Sphinx(src, src, tmp_path / "html", tmp_path / "doctrees", "html", status=None,
                     warning=warnings, freshenv=True)
        app.build()
    return tmp_path / "html", re.sub(r"\x1b\[[0-9;]*m", "", warnings.getvalue())


def beam_table(page: Page) -> list[list[str]]:
    (key,) = [k for k in page.tables if "searchgraph-beams" in k]
    return page.tables[key]


def expected_rows(config: str, layers: list[str] | None = None) -> list[list[str]]:
    rows = []
    for r in beam_rows(analyze(config)):
        if layers and r["layer"] not in layers:
            continue
        choice = "= beam" if r["choice"] and r["choice"] == r["beam"] else (r["choice"] or "")
        rows.append([r["layer"], r["class"], r["placement"], r["beam"] or "",
                     "" if r["beam_size"] is None else str(r["beam_size"]), choice,
                     (r["error"] or "").split("\n", 1)[0]])
    return rows


# ---------------------------------------------------------------------------------------------------
class TestDirective:
    @pytest.mark.usefixtures("needs_render")
    def test_diagram_and_table(self, tmp_path: Path) -> None:
        from searchgraph.analysis.plan import plan_network

        render = importlib.import_module("searchgraph.render")  # written beside this; may be missing

        html, warnings = build(tmp_path, {"index": f"Index\n=====\n\n.. searchgraph:: {EXAMPLE}\n"
                                                   "   :rankdir: LR\n   :focus: output/att\n"})
        assert warnings == ""
        text = (html / "index.html").read_text()
        page = Page(text)
        assert page.svg >= 1
        spec = load(SOURCE)
        spec.source = EXAMPLE  # the diagram names the config as the page does, not the build's path
        analysis = analyze(spec)
        assert str(tmp_path) not in text
        svg = render.render_bytes(render.network_dot(analysis, plans=plan_network(analysis), rankdir="LR",
                                                     focus="output/att"), "svg").decode()
        assert inline_svg(svg, "sg0-") in text  # the options reach the diagram
        assert beam_table(page) == [["layer", "class", "placement", "beam", "size", "choice", "error"],
                                    *expected_rows(str(SOURCE))]

    def test_relative_path_and_layer_option(self, tmp_path: Path) -> None:
        html, warnings = build(tmp_path, {"index": "Index\n=====\n\n.. searchgraph:: net/two_choices.json\n"
                                                   "   :layer: output/both, output/a\n   :table:\n"})
        if HAVE_DIAGRAMS:
            assert warnings == ""
        rows = beam_table(Page((html / "index.html").read_text()))
        want = expected_rows(str(tmp_path / "src" / "net" / "two_choices.json"), ["output/both", "output/a"])
        assert rows[1:] == want and len(want) == 2
        assert want[-1][-1] or want[0][-1]  # RETURNN's error on output/both is in the table

    @pytest.mark.usefixtures("needs_render")
    def test_layer_option_marks_the_layers(self, tmp_path: Path) -> None:
        from searchgraph.analysis.plan import plan_network

        render = importlib.import_module("searchgraph.render")
        html, warnings = build(tmp_path, {"index": "Index\n=====\n\n.. searchgraph:: net/two_choices.json\n"
                                                   "   :layer: output/both output/a\n   :no-table:\n"})
        assert warnings == ""
        spec = load(tmp_path / "src" / "net" / "two_choices.json")
        spec.source = "net/two_choices.json"
        analysis = analyze(spec)
        dot = render.network_dot(analysis, plans=plan_network(analysis), mark=["output/both", "output/a"])
        assert dot != render.network_dot(analysis, plans=plan_network(analysis))
        svg = inline_svg(render.render_bytes(dot, "svg").decode(), "sg0-")
        assert svg in (html / "index.html").read_text()

    @pytest.mark.usefixtures("needs_render")
    def test_collapse_and_hide_beamless(self, tmp_path: Path) -> None:
        from searchgraph.analysis.plan import plan_network

        render = importlib.import_module("searchgraph.render")
        html, warnings = build(tmp_path, {"index": f"Index\n=====\n\n.. searchgraph:: {EXAMPLE}\n"
                                                   "   :collapse: 0\n   :hide-beamless:\n   :no-table:\n"})
        assert warnings == ""
        spec = load(SOURCE)
        spec.source = EXAMPLE
        analysis = analyze(spec)
        dot = render.network_dot(analysis, plans=plan_network(analysis), collapse_depth=0, hide_beamless=True)
        assert dot != render.network_dot(analysis, plans=plan_network(analysis))
        svg = inline_svg(render.render_bytes(dot, "svg").decode(), "sg0-")
        assert svg in (html / "index.html").read_text()

    def test_no_table(self, tmp_path: Path) -> None:
        html, _ = build(tmp_path, {"index": f"Index\n=====\n\n.. searchgraph:: {EXAMPLE}\n   :no-table:\n"})
        assert not [k for k in Page((html / "index.html").read_text()).tables if "searchgraph" in k]

    def test_train_mode(self, tmp_path: Path) -> None:
        html, _ = build(tmp_path, {"index": f"Index\n=====\n\n.. searchgraph:: {EXAMPLE}\n"
                                            "   :mode: train\n   :no-table:\n\n"
                                            f".. searchgraph:: {EXAMPLE}\n   :mode: train\n"})
        rows = beam_table(Page((html / "index.html").read_text()))
        train = analyze(str(SOURCE), mode="train")
        assert [r[0] for r in rows[1:]] == [r["layer"] for r in beam_rows(train)]
        assert all(r[3] == "" for r in rows[1:])  # no beams in training


class TestWarnings:
    """Problems are warnings at the directive's file and line; the rest of the build goes on."""

    def warning_lines(self, tmp_path: Path, body: str) -> tuple[list[str], str]:
        html, warnings = build(tmp_path, {"page": "Page\n====\n\nSome text.\n\n" + body})
        return [w for w in warnings.splitlines() if "searchgraph" in w], (html / "page.html").read_text()

    def test_broken_config(self, tmp_path: Path) -> None:
        lines, text = self.warning_lines(tmp_path, ".. searchgraph:: net/broken.config\n")
        assert len(lines) == 1
        assert re.search(r"page\.rst:6: WARNING: searchgraph: cannot use net/broken\.config: "
                         r".*broken\.config:1: syntax error.*\(hint: ", lines[0]), lines[0]
        assert "Some text." in text and "Traceback" not in text

    def test_missing_file(self, tmp_path: Path) -> None:
        lines, _ = self.warning_lines(tmp_path, ".. searchgraph:: net/nothing.config\n")
        assert len(lines) == 1 and "page.rst:6:" in lines[0] and "no such file" in lines[0]

    def test_unknown_layer(self, tmp_path: Path) -> None:
        lines, _ = self.warning_lines(tmp_path, f".. searchgraph:: {EXAMPLE}\n   :focus: output/atx\n")
        assert len(lines) == 1 and "page.rst:6:" in lines[0]
        assert "no layer 'output/atx'" in lines[0] and "did you mean output/att" in lines[0]

    def test_contradicting_options(self, tmp_path: Path) -> None:
        lines, _ = self.warning_lines(tmp_path, f".. searchgraph:: {EXAMPLE}\n   :table:\n   :no-table:\n")
        assert len(lines) == 1 and ":table: and :no-table:" in lines[0]

    def test_bad_rankdir(self, tmp_path: Path) -> None:
        _, warnings = build(tmp_path, {"page": f"Page\n====\n\n.. searchgraph:: {EXAMPLE}\n   :rankdir: up\n"})
        assert "page.rst:4" in warnings and "rankdir" in warnings


def test_inline_svg_prefixes_ids_and_references() -> None:
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n'
           '<svg width="8pt"><defs><linearGradient id="l_1"/></defs><g id="graph0" class="graph">'
           '<g id="node1"><a xlink:href="#node1"><path fill="url(#l_1)"/></a>'
           '<a href="#elsewhere"/><a href="https://example.org/#x"/><g data-id="node1"/></g></g></svg>')
    assert inline_svg(svg, "sg3-") == (
        '<svg width="8pt"><defs><linearGradient id="sg3-l_1"/></defs><g id="sg3-graph0" class="graph">'
        '<g id="sg3-node1"><a xlink:href="#sg3-node1"><path fill="url(#sg3-l_1)"/></a>'
        '<a href="#elsewhere"/><a href="https://example.org/#x"/><g data-id="node1"/></g></g></svg>')


def test_commands_directive(tmp_path: Path) -> None:
    html, warnings = build(tmp_path, {"index": "Index\n=====\n\n.. searchgraph-commands::\n"})
    assert warnings == ""
    text = (html / "index.html").read_text()
    for command in ("beams", "plan", "diagnose", "docs", "doctor"):
        assert f'id="searchgraph-{command}"' in text
        assert f"usage: searchgraph {command}" in text
