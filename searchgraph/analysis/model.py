"""What the analysis hands on: per layer its beam, search choices, placement and constructor inputs
(:class:`LayerBeam`, :class:`InputBeam`), and for the whole network an :class:`Analysis`.

Plain data: :func:`searchgraph.analyze` makes them (:mod:`searchgraph.analysis.construction` fills
them from a :class:`~searchgraph.analysis.construction.Construction`, the checks add RETURNN's errors).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..graph.layergraph import LayerGraph, as_networkx
from ..loading.netspec import NetSpec
from .beams import SearchBeam

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Analysis", "InputBeam", "LayerBeam"]


@dataclass(frozen=True)
class InputBeam:
    """One layer-valued input of a layer as the layer receives it (before translation).

    Attributes
    ----------
    name : RETURNN's name of the input layer: ``output/prev:s`` for the previous frame of
        ``output/s``, ``encoder`` for ``base:encoder``.
    source : the graph node it comes from (``output/s``).
    option : the option holding the reference (``from``, ``base``, ``rec_previous_layer``, ...).
    kind : the edge kind (``from``, ``prev``, ``base``, ``sub``, ``data``, ``option:<name>``).
    beam : its beam as this layer sees it.
    decided : it is a ``decide`` layer's output (choices decided, no beam).
    batched : it has a batch axis (variables and constants do not: RETURNN never translates them).
    choice : its search choices as this layer sees them, a chain of choice owners (``beam``'s chain
        plus the choices that make no beam of their own: regression, ``search: False``).
    """

    name: str
    source: str
    option: str
    kind: str
    beam: SearchBeam | None
    decided: bool = False
    batched: bool = True
    choice: SearchBeam | None = None


@dataclass
class LayerBeam:
    """What one layer carries in search.

    Attributes
    ----------
    name : RETURNN's absolute layer name (``output/s``).
    cls : the layer class.
    placement : ``net``, or for rec sub-layers ``loop``, ``input``, ``output`` (moved out).
    beam : its SearchBeam, or None.
    choice : the layer ``get_search_choices`` returns (``output/prev:output``), or None.
    trace : the choice trace: ``choice``, then each older choice it was chosen from.
    error : the error RETURNN raises on this layer, or None.
    chosen : the search choices behind ``choice``: a chain of choice owners (see InputBeam.choice).
    available : False where RETURNN builds a ``DataNotAvailableLayer`` (its output needs data that
        inference lacks): no search choices; a rec layer's loop is then never built.
    own : the layer's own ``get_search_choices()`` where it differs from ``chosen`` (the common search
        choices its translated inputs gave it, ``_src_common_search_choices``: a ``cond``'s), else None.
    """

    name: str
    cls: str
    placement: str = "net"
    beam: SearchBeam | None = None
    choice: str | None = None
    trace: list[str] = field(default_factory=list)
    error: str | None = None
    unit: str | None = None
    _inputs: list[InputBeam] | Callable[[], list[InputBeam]] = field(
        default_factory=list, repr=False, compare=False)
    chosen: SearchBeam | None = field(default=None, repr=False, compare=False)
    available: bool = True
    own: SearchBeam | None = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> list[InputBeam]:
        """The layer's constructor inputs with the beams they arrive on (computed on first use)."""
        if callable(self._inputs):
            self._inputs = self._inputs()
        return self._inputs

    def to_json(self) -> dict[str, Any]:
        """The ``searchgraph beams --json`` record (the corpus oracle's fields)."""
        return {"beam": self.beam.name if self.beam else None,
                "beam_size": self.beam.size if self.beam else None,
                "beam_chain": self.beam.chain if self.beam else [],
                "choice": self.choice, "placement": self.placement, "error": self.error}


@dataclass
class Analysis:
    """The provenance of every constructed layer of a network, in construction order.

    ``layer_graph`` is the graph the analysis ran on (a :class:`~searchgraph.graph.LayerGraph`, or the
    ``networkx.DiGraph`` given to :func:`searchgraph.analyze`); :attr:`graph` is it as a networkx
    DiGraph.
    """

    spec: NetSpec
    layer_graph: LayerGraph | nx.DiGraph
    mode: str
    layers: dict[str, LayerBeam]
    latest_choice: dict[str, str] = field(default_factory=dict)
    #: layer -> :class:`searchgraph.checks.Failure` (code, RETURNN's message, reason, fix)
    failures: dict[str, Any] = field(default_factory=dict)
    #: layers inside the loop of a rec layer RETURNN builds as a ``DataNotAvailableLayer``: that loop
    #: never runs, its layers stay templates (nothing translated, nothing re-selected)
    unbuilt: frozenset[str] = frozenset()
    #: rec layers whose length is known before the loop runs (no end flag to carry)
    length_known: frozenset[str] = frozenset()
    _nx: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def graph(self) -> nx.DiGraph:
        """The layer graph as a ``networkx.DiGraph`` (made on first use: networkx loads then)."""
        if self._nx is None:
            self._nx = as_networkx(self.layer_graph)
        return self._nx

    @property
    def warnings(self) -> list[str]:
        """What the graph builder noticed but RETURNN may accept (unknown classes, stray refs)."""
        return list(self.layer_graph.graph.get("warnings", []))

    @property
    def errors(self) -> dict[str, str]:
        """Layer name -> the error RETURNN raises there."""
        return {n: lb.error for n, lb in self.layers.items() if lb.error}

    def beams(self) -> list[SearchBeam]:
        """Every distinct beam, in order of first appearance."""
        seen: dict[str, SearchBeam] = {}
        for lb in self.layers.values():
            if lb.beam is not None:
                seen.setdefault(lb.beam.name, lb.beam)
        return list(seen.values())

    def to_json(self) -> dict[str, Any]:
        """``{"layers": {name: {beam, beam_size, beam_chain, choice, placement, error}}}``."""
        return {"layers": {n: lb.to_json() for n, lb in self.layers.items()}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)

    def _repr_svg_(self) -> str:
        """Jupyter: the beam-flow diagram as SVG (with plans in search mode; needs Graphviz's ``dot``)."""
        from ..interfaces.notebook import repr_svg  # a display hook: the interface layer, on demand

        return repr_svg(self)
