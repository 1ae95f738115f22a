"""Diagrams: the network / beam-flow diagram of an analysis and the backtracking lattice of a search.

The builders (:func:`network_dot`, :func:`lattice_dot`) are pure and return DOT source, the same
bytes for the same input. :func:`render_bytes` and :func:`write` turn DOT into ``dot``, ``svg``,
``png``, ``pdf`` (Graphviz's ``dot`` program) or ``html`` (one self-contained page: the SVG, a
search box, pan and zoom, hover highlighting of a layer's inputs and beam path).

Examples
--------
>>> import searchgraph
>>> from searchgraph.render import network_dot
>>> net = {"output": {"class": "rec", "from": [], "max_seq_len": 5, "unit": {
...     "prob": {"class": "softmax", "from": "prev:output", "n_out": 5},
...     "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes"}}}}
>>> network_dot(searchgraph.analyze(net)).startswith("digraph searchgraph {")
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..analysis.plan import plan_network
from .lattice import lattice_dot
from .network import beam_path, network_dot
from .output import FORMATS, OutputExistsError, RenderError, format_for, render_bytes, write

__all__ = [
    "FORMATS",
    "OutputExistsError",
    "RenderError",
    "beam_path",
    "format_for",
    "lattice_dot",
    "network_dot",
    "render_bytes",
    "write",
    "write_lattice",
    "write_network",
]


def write_network(analysis: Any, path: str | os.PathLike[str], *, force: bool = False, **opts: Any) -> Path:
    """Write the beam-flow diagram of ``analysis`` to ``path`` (format from the suffix).

    ``opts`` are :func:`network_dot`'s keywords; without ``plans`` the plans are computed for a
    search-mode analysis. Refuses to replace an existing file unless ``force``
    (:class:`OutputExistsError`); writes atomically.
    """
    fmt = format_for(path)  # a bad suffix fails before any work
    if not force and Path(path).exists():
        raise OutputExistsError("the file exists", where=str(path), hint="pass --force (force=True) to replace it")
    if opts.get("plans") is None and analysis.mode == "search":
        opts["plans"] = plan_network(analysis)
    return write(network_dot(analysis, **opts), path, force=force, fmt=fmt)


def write_lattice(trace: Any, path: str | os.PathLike[str], *, force: bool = False,
                  result: Any = None) -> Path:
    """Write the backtracking lattice of ``trace`` to ``path`` (format from the suffix); ``result``
    is its :class:`~searchgraph.search.backtrack.BacktrackResult` (computed when not given)."""
    fmt = format_for(path)
    if not force and Path(path).exists():
        raise OutputExistsError("the file exists", where=str(path), hint="pass --force (force=True) to replace it")
    if fmt == "html" and getattr(trace, "records", None):  # the page shows the attention heat maps too
        from .attention import attention_panel
        from .html import html_page
        from .output import run_dot, write_bytes

        dot = lattice_dot(trace, result)
        page = html_page(dot, run_dot(dot, "svg").decode("utf-8"), panel=attention_panel(trace, result))
        return write_bytes(page.encode("utf-8"), path, force=force)
    return write(lattice_dot(trace, result), path, force=force, fmt=fmt)
