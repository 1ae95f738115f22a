"""Sphinx extension: embed a network's beam-flow diagram and beam table in documentation.

Add ``"searchgraph.interfaces.sphinx"`` to ``extensions`` in ``conf.py``, then::

    .. searchgraph:: ../examples/attention_decoder.config
       :rankdir: LR
       :focus: output/att
       :layer: output/att, output/output

(in MyST markdown: a ```` ```{searchgraph} PATH ```` fence with the same options). The path is
relative to the document (or to the source folder when it starts with ``/``). Options:

``:layer:``      only these layers' rows in the table, and these layers marked in the diagram
                 (comma or space separated)
``:focus:``      grey out the diagram except the provenance path from the layer's choices to it
``:rankdir:``    ``TB`` (default), ``LR``, ``BT`` or ``RL``
``:table:`` / ``:no-table:``   show (default) or leave out the beam table
``:mode:``       ``search`` (default) or ``train``
``:trust:``      execute the config as Python (RETURNN's way) instead of the safe evaluation
``:collapse: N``  draw rec units and subnetworks nested deeper than N as one node (0: all of them)
``:hide-beamless:``  leave layers without a beam out of the diagram

A config that cannot be used, an unknown layer or a missing ``dot`` is a Sphinx warning at the
directive's file and line (an error under ``sphinx-build -W``), never a crash.

``.. searchgraph-commands::`` lists the ``searchgraph`` commands with their ``--help`` text.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from ..errors import SearchgraphError

__all__ = ["CommandsDirective", "SearchgraphDirective", "beam_table", "inline_svg", "setup"]

logger = logging.getLogger(__name__)

_COLUMNS = ("layer", "class", "placement", "beam", "size", "choice", "error")

#: Written to ``_static/searchgraph.css`` by HTML builders: wide tables and diagrams scroll instead of
#: spilling over the theme's text column, and table cells stay on one line.
_CSS_FILE = "searchgraph.css"
_CSS = """\
div.searchgraph { margin: 1em 0; }
div.searchgraph-diagram { overflow: auto; max-height: 80vh; border: 1px solid #e4e4e4; padding: .3em; }
div.searchgraph-diagram svg { max-width: 100%; height: auto; }
div.searchgraph-diagram svg a { text-decoration: none; border: 0; }
div.searchgraph div.searchgraph-table { overflow-x: auto; }
table.searchgraph-beams { font-size: .82em; border-collapse: collapse; }
table.searchgraph-beams td, table.searchgraph-beams th { white-space: nowrap; padding: .15em .5em; }
table.searchgraph-beams td:last-child { white-space: normal; color: #b00020; }
table.searchgraph-beams p { margin: 0; }
"""


_ID = re.compile(r'(?<![\w:-])id="([^"]+)"')  # the id attribute, not data-id= or the like


def inline_svg(svg: str, prefix: str) -> str:
    """Graphviz's SVG ready to sit in an HTML page beside others: the ``<svg>`` element alone (no
    XML prolog or doctype) and every ``id`` prefixed with ``prefix``, references to them
    (``href="#id"``, ``url(#id)``) too, so that two diagrams on one page do not share ids."""
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    ids = set(_ID.findall(svg))
    if not ids:
        return svg

    def ref(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}{name}" if name in ids else match.group(0)

    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    return re.sub(r'((?:href="|url\()#)([^")]+)', ref, svg)


def _rankdir(argument: str) -> str:
    return directives.choice(argument, ("tb", "lr", "bt", "rl")).upper()  # choice() lower-cases


def _mode(argument: str) -> str:
    return directives.choice(argument.strip(), ("search", "train"))


def _cell(text: str, *, literal: bool = False) -> nodes.entry:
    para = nodes.paragraph()
    if text:
        para += nodes.literal(text, text) if literal else nodes.Text(text)
    return nodes.entry("", para)


def beam_table(rows: list[dict[str, Any]], title: str) -> nodes.table:
    """The beam table as a docutils table (columns: layer, class, placement, beam, size, choice,
    error), from :func:`searchgraph.interfaces.docsite.beam_rows` records."""
    table = nodes.table(classes=["searchgraph-beams"])
    table += nodes.title(title, title)
    group = nodes.tgroup(cols=len(_COLUMNS))
    table += group
    for width in (24, 12, 8, 20, 5, 20, 30):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *(_cell(c) for c in _COLUMNS))
    group += head
    body = nodes.tbody()
    for r in rows:
        choice = "= beam" if r["choice"] and r["choice"] == r["beam"] else (r["choice"] or "")
        body += nodes.row("", _cell(r["layer"], literal=True), _cell(r["class"]), _cell(r["placement"]),
                          _cell(r["beam"] or "", literal=True),
                          _cell("" if r["beam_size"] is None else str(r["beam_size"])),
                          _cell(choice, literal=choice != "= beam"),
                          _cell((r["error"] or "").split("\n", 1)[0]))
    group += body
    return table


class SearchgraphDirective(SphinxDirective):
    """``.. searchgraph:: PATH``: the network's diagram (inline SVG) and its beam table."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False
    option_spec = {  # noqa: RUF012 -- docutils reads this class attribute
        "layer": directives.unchanged_required,
        "focus": directives.unchanged_required,
        "rankdir": _rankdir,
        "table": directives.flag,
        "no-table": directives.flag,
        "mode": _mode,
        "trust": directives.flag,
        "collapse": directives.nonnegative_int,
        "hide-beamless": directives.flag,
    }

    def _warn(self, message: str) -> list[nodes.Node]:
        logger.warning(f"searchgraph: {message}", location=self.get_location(),
                       type="searchgraph", subtype="directive")
        return []

    def run(self) -> list[nodes.Node]:
        from ..checks import analyze
        from ..loading import load
        from .docsite import beam_rows

        if "table" in self.options and "no-table" in self.options:
            return self._warn(":table: and :no-table: contradict each other; give one of them")
        relative, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        mode = self.options.get("mode", "search")
        try:
            spec = load(path, trust="trust" in self.options)
            spec.source = self.arguments[0]  # as the page names it: no build machine's paths in the HTML
            analysis = analyze(spec, mode=mode)
        except SearchgraphError as exc:
            where = f"{exc.where}: " if exc.where else ""
            return self._warn(f"cannot use {self.arguments[0]}: {where}{exc.message}"
                              + (f" (hint: {exc.hint})" if exc.hint else ""))
        except Exception as exc:  # noqa: BLE001 -- a bug of ours must not stop the whole build
            return self._warn(f"cannot analyse {self.arguments[0]}: internal error: "
                              f"{type(exc).__name__}: {exc}")
        wanted = [n for n in re.split(r"[,\s]+", self.options.get("layer", "")) if n]
        focus = self.options.get("focus")
        for name in [*wanted, *([focus] if focus else [])]:
            if name not in analysis.layers:
                import difflib

                close = difflib.get_close_matches(name, list(analysis.layers), n=3)
                return self._warn(f"{self.arguments[0]}: no layer {name!r} is constructed in {mode} mode"
                                  + (f" (did you mean {', '.join(close)}?)" if close else ""))

        result: list[nodes.Node] = []
        try:
            from ..analysis.plan import plan_network
            from ..render import network_dot, render_bytes

            plans = plan_network(analysis) if mode == "search" else None
            dot = network_dot(analysis, plans=plans, rankdir=self.options.get("rankdir", "TB"),
                              focus=focus, mark=wanted, collapse_depth=self.options.get("collapse"),
                              hide_beamless="hide-beamless" in self.options)
            svg = render_bytes(dot, "svg").decode("utf-8")
        except Exception as exc:  # noqa: BLE001 -- no dot, or dot failed: a warning, no diagram
            self._warn(f"{self.arguments[0]}: no diagram: " + " ".join(str(exc).split()))
        else:
            prefix = f"sg{self.env.new_serialno('searchgraph')}-"
            result.append(nodes.raw("", f'<div class="searchgraph-diagram">{inline_svg(svg, prefix)}</div>',
                                    format="html"))
        if "no-table" not in self.options:
            rows = [r for r in beam_rows(analysis) if not wanted or r["layer"] in wanted]
            title = f"Beams ({mode} mode): {self.arguments[0]}"
            result.append(nodes.container("", beam_table(rows, title), classes=["searchgraph-table"]))
        container = nodes.container("", *result, classes=["searchgraph"])
        self.set_source_info(container)
        return [container]


class CommandsDirective(SphinxDirective):
    """``.. searchgraph-commands::``: every ``searchgraph`` command with its ``--help`` text."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from .cli import build_parser

        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {a.dest: a.help for a in sub._choices_actions}
        out: list[nodes.Node] = []
        for name, command in sub.choices.items():
            section = nodes.section(ids=[f"searchgraph-{name}"])
            title = f"searchgraph {name}"
            section += nodes.title(title, title)
            if helps.get(name):
                section += nodes.paragraph(text=helps[name][0].upper() + helps[name][1:] + ".")
            command.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=66)
            text = command.format_help().rstrip()
            section += nodes.literal_block(text, text, language="text")
            out.append(section)
        return out


def _write_css(app: Sphinx, exception: BaseException | None) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        (static / _CSS_FILE).write_text(_CSS, "utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives and the stylesheet of their tables and diagrams."""
    from ..version import __version__

    app.add_directive("searchgraph", SearchgraphDirective)
    app.add_directive("searchgraph-commands", CommandsDirective)
    app.add_css_file(_CSS_FILE)
    app.connect("build-finished", _write_css)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
