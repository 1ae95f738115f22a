"""Jupyter: an :class:`~searchgraph.analysis.Analysis` or a :class:`~searchgraph.search.trace.SearchTrace`
displays as its diagram.

``Analysis._repr_svg_`` and ``SearchTrace._repr_svg_`` are display hooks of earlier stages; they import
:func:`repr_svg` from here when Jupyter asks (the only imports from an earlier stage into this one).
"""

from __future__ import annotations

from typing import Any

from ..analysis.model import Analysis
from ..analysis.plan import plan_network
from ..render import lattice_dot, network_dot, render_bytes
from ..search.trace import SearchTrace

__all__ = ["repr_svg"]


def repr_svg(obj: Any) -> str:
    """SVG for an :class:`~searchgraph.analysis.Analysis` (its beam-flow diagram, with plans in
    search mode) or a :class:`~searchgraph.search.trace.SearchTrace` (its lattice): Jupyter's
    ``_repr_svg_``; needs Graphviz's ``dot``."""
    if isinstance(obj, Analysis):
        plans = plan_network(obj) if obj.mode == "search" else None
        dot = network_dot(obj, plans=plans)
    elif isinstance(obj, SearchTrace):
        dot = lattice_dot(obj)
    else:
        raise TypeError(f"repr_svg draws an Analysis or a SearchTrace, got {type(obj).__name__}")
    svg = render_bytes(dot, "svg").decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
