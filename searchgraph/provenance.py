"""Beam provenance per layer: SearchBeam, search choice, choice trace, loop placement, errors.

The answer RETURNN gives when it builds the network with ``search_flag=True`` (spec §2–§6), computed
on the layer graph without TensorFlow. Errors RETURNN would raise are results on the layer.
"""

from __future__ import annotations

import functools
import gc
import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .beams import CombineError, SearchBeam, combine_beams
from .loading import load
from .graph import build_layer_graph, constructed_layers
from .layergraph import LayerGraph, as_networkx
from .layers import get_layer_class
from .loading.netspec import NetSpec

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Analysis", "LayerBeam", "analyze"]

_MODES = ("search", "train")
#: how a layer receives an input's beam (:meth:`_Analyzer._how_received`)
_NOTHING, _AS_IS, _BACKTRACKED, _PREV_FRAME = range(4)


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

    ``layer_graph`` is the graph the analysis ran on (a :class:`~searchgraph.layergraph.LayerGraph`,
    or the ``networkx.DiGraph`` given to :func:`analyze`); :attr:`graph` is it as a networkx DiGraph.
    """

    spec: NetSpec
    layer_graph: LayerGraph | nx.DiGraph
    mode: str
    layers: dict[str, LayerBeam]
    latest_choice: dict[str, str] = field(default_factory=dict)
    #: layer -> :class:`searchgraph.failures.Failure` (code, RETURNN's message, reason, fix)
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
        from .render import repr_svg

        return repr_svg(self)


def _beamless_outside_loops(an: _Analyzer) -> set[str]:
    """Layers outside every loop with no choice upstream: no beam in any pass, nothing to compute.
    (A layer registered as extern data could carry a beam past the graph: then none are.)"""
    if any(d.get("options", {}).get("register_as_extern_data") for d in an.nd.values()):
        return set()
    succ = an.g._succ
    todo = [n for n in an.order if an.nd[n]["class"] in ("choice", "decide_keep_beam")]
    downstream: set[str] = set(todo)
    while todo:
        for nxt in succ[todo.pop()]:
            if nxt not in downstream:
                downstream.add(nxt)
                todo.append(nxt)
    return {n for n in an.order if n not in downstream and an.rec_of(n) is None
            and an.nd[n]["class"] != "rec"}


def _differs(old: SearchBeam | None, new: SearchBeam | None) -> bool:
    if old is new:
        return False
    if old is None or new is None:
        return True
    return old.name != new.name or old.size != new.size or old.chain_key != new.chain_key


def _topological_order(g: LayerGraph | nx.DiGraph) -> list[str]:
    """Kahn's algorithm over the non-``prev`` edges, ties broken by insertion order (stable)."""
    succ = g._succ
    indeg = dict.fromkeys(g, 0)
    for u in g:
        for v, data in succ[u].items():
            if data["kind"] != "prev":
                indeg[v] += 1
    ready = [n for n in g if indeg[n] == 0]
    ready.reverse()
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        released = []
        for v, data in succ[node].items():
            if data["kind"] != "prev":
                indeg[v] -= 1
                if indeg[v] == 0:
                    released.append(v)
        ready.extend(reversed(released))
    return order


class _Analyzer:
    def __init__(self, spec: NetSpec, g: LayerGraph | nx.DiGraph, mode: str, *, template: bool = False,
                 eval_flag: bool = False, like: _Analyzer | None = None):
        """``like``: an analyzer of the same graph, mode and flags whose static facts (constructed
        layers, order, units, inputs) this one shares instead of computing them again."""
        self.spec, self.g, self.search = spec, g, mode == "search"
        #: template mode: beams as RETURNN's rec template construction sees them, before any input
        #: is translated into a common beam (a choice's dependency is its first source's beam)
        self.template = template
        self.rec_outer: dict[str, SearchBeam | None] = {}
        #: the template pass's beams: what ``prev:`` layers carry in the real construction
        self.template_beams: dict[str, SearchBeam | None] | None = None
        self.template_errors: dict[str, str] = {}
        self.error_traces: dict[str, tuple[tuple[str, ...], ...]] = {}
        self.failures: dict[str, Any] = {}
        self.eval_flag = eval_flag
        #: layers whose beam is known before the run (beamless layers outside loops, from the
        #: template pass: without any choice upstream both passes agree)
        self.settled: set[str] = set()
        self._rec_cache: dict[str, str | None] = {}
        self._units_cache: dict[str, frozenset[str]] = {}
        self.nd = g._node
        self.built = like.built if like is not None else \
            constructed_layers(g, search=self.search, eval_flag=eval_flag)
        self._prev_cache: dict[int, tuple[SearchBeam, SearchBeam]] = {}
        self._static: dict[str, tuple[str | None, list[tuple[int, str, str | None, bool]]]] = {}
        self._how_cache: dict[tuple[str, str, str], tuple[int, str, str | None]] = {}
        #: input beams once the beams are final (the rules ask for them again and again)
        self._final_beams: dict[tuple[str, str, str], SearchBeam | None] | None = None
        self._loop_choosers: list[tuple[str, str | None]] | None = None
        #: layers inside loops RETURNN never runs (set by :meth:`result`)
        self.unbuilt: frozenset[str] = frozenset()
        self.order = like.order if like is not None else \
            [n for n in _topological_order(g) if n in self.built and g.nodes[n]["node_kind"] != "data"]
        self.beam: dict[str, SearchBeam | None] = {}
        self.error: dict[str, str] = {}
        self.placement: dict[str, str] = {}
        self.latest: dict[str, SearchBeam] = {}
        self.chosen: dict[str, SearchBeam | None] = {}
        self.latest_chosen: dict[str, SearchBeam] = {}
        self.children: dict[str, list[str]] = {}
        self.wrapped_input: set[str] = set()
        self._inputs: dict[str, list[tuple[str, str, str]]] = {}
        self._batched: dict[str, bool] = {}
        if like is not None:
            self._rec_cache, self._units_cache, self._inputs, self._batched = \
                like._rec_cache, like._units_cache, like._inputs, like._batched
            self.children = like.children
            return
        for node in self.order:
            unit = g.nodes[node].get("unit")
            if unit is not None:
                self.children.setdefault(unit, []).append(node)

    # -- helpers --------------------------------------------------------------------------------
    def rec_of(self, node: str) -> str | None:
        """The innermost rec layer whose loop holds ``node`` (through subnetworks), or None."""
        try:
            return self._rec_cache[node]
        except KeyError:
            pass
        unit = self.nd[node].get("unit")
        while unit is not None and self.nd[unit]["class"] != "rec":
            unit = self.nd[unit].get("unit")
        self._rec_cache[node] = unit
        return unit

    def is_search_choice(self, node: str) -> bool:
        data = self.nd[node]
        if data["class"] != "choice":
            return False
        search = data["options"].get("search", None)
        return bool(search) if search is not None else self.search

    def in_loop(self, node: str) -> bool:
        rec = self.rec_of(node)
        return rec is not None and self.placement.get(self._top_in_rec(node, rec)) == "loop"

    def _top_in_rec(self, node: str, rec: str) -> str:
        """The direct member of rec's unit that holds ``node`` (itself or an enclosing subnetwork)."""
        while self.nd[node].get("unit") != rec:
            node = self.nd[node]["unit"]
        return node

    def input_beam(self, src: str, form: str, consumer: str) -> SearchBeam | None:
        """The beam of ``src`` as ``consumer`` receives it (before any translation).

        Inside the loop, ``prev:x`` is on the previous frame's beam. Outside it (a root layer, or a
        layer moved out after the loop), a loop layer arrives backtracked, on the beam of the loop's
        latest choice, except ``decide_keep_beam`` (raw) values; input-moved layers have no beam.
        """
        final = self._final_beams
        if final is None:
            return self._received(src, form, consumer, self.beam, self.latest)
        key = (src, form, consumer)
        if key not in final:
            final[key] = self._received(src, form, consumer, self.beam, self.latest)
        return final[key]

    def input_choice(self, src: str, form: str, consumer: str) -> SearchBeam | None:
        """Like :meth:`input_beam`, for the search choices (they differ from the beam only after a
        choice that adds scores without creating a beam: ``search: False``, regression)."""
        return self._received(src, form, consumer, self.chosen, self.latest_chosen)

    def _received(self, src: str, form: str, consumer: str, table: dict[str, SearchBeam | None],
                  latest: dict[str, SearchBeam]) -> SearchBeam | None:
        return self._receive(*self._how(src, form, consumer), table, latest)

    def _how(self, src: str, form: str, consumer: str) -> tuple[int, str, str | None]:
        """:meth:`_how_received`, worked out once per input."""
        key = (src, form, consumer)
        found = self._how_cache.get(key)
        if found is None:
            found = self._how_cache[key] = self._how_received(src, form, consumer)
        return found

    def _how_received(self, src: str, form: str, consumer: str) -> tuple[int, str, str | None]:
        """How ``consumer`` receives ``src`` (fixed once the placements are): ``(how, node, rec)``
        with ``how`` one of ``_NOTHING`` (extern data, input-moved layers: no beam), ``_AS_IS``,
        ``_BACKTRACKED`` (a loop layer read from outside ``rec``: on the loop's latest beam),
        ``_PREV_FRAME`` (``prev:`` inside ``rec``), and ``node`` the layer whose beam it is."""
        data = self.nd[src]
        if data["node_kind"] in ("data", "missing"):
            return _NOTHING, src, None
        if data["node_kind"] == "sub":
            src = next(iter(self.g.predecessors(src)), src)
        src_rec = self.rec_of(src)
        if src_rec is None:
            return _AS_IS, src, None
        # templates are built before any layer is moved out of the loop
        where = "loop" if self.template else self.placement.get(self._top_in_rec(src, src_rec), "loop")
        if where == "input" and src not in self.wrapped_input:
            return _NOTHING, src, None
        if self._outside(consumer, src_rec):
            return (_AS_IS if where == "output" else _BACKTRACKED), src, src_rec
        return (_PREV_FRAME if form == "prev" else _AS_IS), src, src_rec

    def _receive(self, how: int, src: str, rec: str | None, table: dict[str, SearchBeam | None],
                 latest: dict[str, SearchBeam]) -> SearchBeam | None:
        if how == _AS_IS:
            return table.get(src)
        if how == _NOTHING:
            return None
        beam = table.get(src)
        if how == _BACKTRACKED:
            if beam is None:
                return None
            owner = self.nd.get(beam.name.replace("prev:", "", 1))
            if owner is not None and owner["class"] == "decide_keep_beam":
                return beam  # keep_raw: never resolved
            return latest.get(rec, beam)
        if table is self.beam and self.template_beams is not None:
            beam = self.template_beams.get(src, beam)  # prev: layers are templates
        if beam is not None and not beam.is_prev_frame and beam.name.startswith(rec + "/"):
            cached = self._prev_cache.get(id(beam))
            if cached is None or cached[0] is not beam:
                cached = self._prev_cache[id(beam)] = (beam, beam.copy_as_prev_frame())
            return cached[1]
        return beam

    def _outside(self, node: str, rec: str) -> bool:
        """Whether ``node`` sees ``rec``'s loop from outside (not in it, or moved out after it)."""
        if rec not in self._recs_of(node):
            return node != rec
        return not self.template and self.placement.get(self._top_in_rec(node, rec)) == "output"

    def _recs_of(self, node: str) -> frozenset[str]:
        """Every unit layer enclosing ``node``."""
        cached = self._units_cache.get(node)
        if cached is None:
            recs: set[str] = set()
            unit = self.nd[node].get("unit")
            while unit is not None:
                recs.add(unit)
                unit = self.nd[unit].get("unit")
            cached = self._units_cache[node] = frozenset(recs)
        return cached

    def inputs(self, node: str) -> list[tuple[str, str, str]]:
        """The layer's inputs that carry beams and choices (RETURNN's template and dep sets)."""
        cached = self._inputs.get(node)
        if cached is None:
            cached = self._inputs[node] = self._compute_inputs(node)
        return cached

    def _compute_inputs(self, node: str) -> list[tuple[str, str, str]]:
        data = self.nd[node]
        cls = get_layer_class(data["class"])
        dep_opts = {r.name for r in cls.refs if r.dep} | {"from", "target", "condition", "true_layer",
                                                          "false_layer", "unit"}
        if cls.beam_role == "choice" and not self.is_search_choice(node) and not self.search \
                and not data["options"].get("add_to_beam_scores") \
                and not data["options"].get("scheduled_sampling"):
            dep_opts.discard("from")  # RETURNN drops the scores: the output is the target
        out = []
        for src, option, form, search in data.get("inputs", []):
            if src not in self.built and self.nd[src]["node_kind"] == "layer":
                continue
            if (search or not self.search) and option.partition(".")[0] in dep_opts:
                out.append((src, option, form))
        return out

    # -- beams ----------------------------------------------------------------------------------
    def compute(self, node: str) -> tuple[SearchBeam | None, SearchBeam | None]:
        """The layer's beam and its search choices (as a SearchBeam-like chain of choice owners)."""
        data = self.nd[node]
        if data["node_kind"] == "sub":
            parent = next(iter(self.g.predecessors(node)))
            return self.input_beam(parent, "sub", node), self.input_choice(parent, "sub", node)
        static = self._static.get(node)
        if static is None:  # placements are fixed by now: so is how each input arrives
            static = self._static[node] = (get_layer_class(data["class"]).beam_role, [
                (*self._how(src, form, node), opt == "from") for src, opt, form in self.inputs(node)])
        role, plan = static
        beam_table, chosen_table = self.beam, self.chosen
        beams: list[SearchBeam | None] = []
        choices: list[SearchBeam | None] = []
        sources = []
        for how, src, rec, is_from in plan:
            if how == _AS_IS:
                beam, chosen = beam_table.get(src), chosen_table.get(src)
            else:
                beam = self._receive(how, src, rec, beam_table, self.latest)
                chosen = self._receive(how, src, rec, chosen_table, self.latest_chosen)
            beams.append(beam)
            choices.append(chosen)
            if is_from:
                sources.append(beam)
        first = sources[0] if sources else None
        if role == "choice":
            size = int(data["options"].get("beam_size", 1) or 1)
            first_choice = choices[0] if sources else None
            regression = data["options"].get("input_type") == "regression"
            if self.is_search_choice(node) and (self.template or not regression):
                if self.template:
                    return SearchBeam(node, size, first), SearchBeam(node, size, first_choice)
                if self.rec_of(node) and all(b is None for b in sources):
                    # PR #1213: a searching choice without beamed sources depends on its own prev frame
                    beams.append(self.input_beam(node, "prev", node))
                    choices.append(self.input_choice(node, "prev", node))
                # real construction translates all layer kwargs into their common beam first
                many = len(beams) > 1
                return (SearchBeam(node, size, combine_beams(beams) if many else first),
                        SearchBeam(node, size, combine_beams(choices) if many else first_choice))
            if self.search and regression:
                # a regression "choice" keeps its translated input's beam, with choices of its own
                beam = combine_beams(beams)
                return beam, SearchBeam(node, beam.size if beam else 1, combine_beams(choices))
            if self.search and first is not None:
                # adds its scores to the beam without a beam of its own (search False with
                # add_to_beam_scores): new search choices on the source's beam
                return first, SearchBeam(node, first.size, combine_beams(choices))
            return first, first_choice
        if role in ("decide", "split_batch_beam"):
            return None, None
        if role == "select_search_sources":
            # the source re-selected into the beam of the `search_choices` layer
            owner = [(self.input_beam(src, form, node), self.input_choice(src, form, node))
                     for src, opt, form, _ in data.get("inputs", []) if opt == "search_choices"]
            if owner and owner[0][0] is not None:
                return owner[0]
            return combine_beams(sources), combine_beams(choices)
        if role == "decide_keep_beam":
            beam = SearchBeam(node, first.size, first) if first else None
            return beam, beam
        if role == "rec" and (node in self.rec_outer or node in self.latest):
            return self.rec_outer.get(node, self.latest.get(node)), self.latest_chosen.get(node)
        return combine_beams(beams), combine_beams(choices)

    def run(self) -> None:
        """Fixed point over the construction order: ``prev:`` edges and the loops' latest choices
        feed beams back, so recompute what changed until nothing does."""
        if not self.placement:
            self.compute_placements()
        position = {n: i for i, n in enumerate(self.order)}
        succ = self.g._succ
        nd, order, beams, chosen_of, errors = self.nd, self.order, self.beam, self.chosen, self.error
        # what to recompute when a layer changes: its users, and a choice's own prev frame (PR #1213)
        users = [[position[v] for v in succ[n] if v in position] + ([at] if nd[n]["class"] == "choice"
                                                                    else []) for at, n in enumerate(order)]
        pending = [position[n] for n in order if n not in self.settled]  # a heap of positions
        queued = set(pending)
        for _ in range(max(3, len(order))):
            later: set[int] = set()  # reached through prev: edges: recomputed in the next pass
            while pending:
                at = heapq.heappop(pending)
                queued.discard(at)
                node = order[at]
                try:
                    beam, chosen = self.compute(node)
                    if node in errors:
                        del errors[node]
                except CombineError as exc:
                    beam, chosen, errors[node] = None, None, self.combine_message(node, exc)
                    self.error_traces[node] = (tuple(exc.first.chain), tuple(exc.second.chain))
                changed = _differs(beams.get(node), beam) or _differs(chosen_of.get(node), chosen)
                beams[node] = beam
                chosen_of[node] = chosen
                if not changed:
                    continue
                for target in users[at]:
                    if target > at:
                        if target not in queued:  # still ahead in this pass
                            heapq.heappush(pending, target)
                            queued.add(target)
                    else:
                        later.add(target)
            for rec in self.update_latest():  # what reads the loop from outside sees a new beam
                members = self._all_members(rec) | {rec}
                later |= {position[rec]} | {position[v] for m in members for v in succ[m]
                                            if v in position and self._outside(v, rec)}
            if not later:
                break
            pending = sorted(later)
            queued = set(pending)

    def rec_output_templates(self) -> dict[str, SearchBeam | None]:
        """Each rec layer's own beam: its inner ``output`` template's beam as the template pass
        leaves it. In the first pass the frame's oldest choice is built before the ``prev:``
        layers it reads are initialised, so with two or more choices in a frame its beam has no
        dependency there (e.g. ``output/output_1 <- output/output_0``, no ``prev:`` link); the same
        when the unit's ``output`` is not itself a choice (``output = copy(label)`` gives
        ``output/label``). Only a unit ``output`` that is the frame's single choice keeps its
        ``prev:`` link (``output/output <- output/prev:output``)."""
        out: dict[str, SearchBeam | None] = {}
        for rec, members in self.children.items():
            inner = next((m for m in members if self.nd[m]["local"] == "output"), None)
            if self.nd[rec]["class"] != "rec" or inner is None:
                continue
            beam = self.beam.get(inner)
            if beam is None:
                continue
            frame = beam.walk()
            frame = frame[:next((i for i, b in enumerate(frame) if b.is_prev_frame), len(frame))]
            chosen = self.chosen.get(inner)
            in_frame = [c for c in chosen.walk() if not c.is_prev_frame] if chosen else []
            if (len(in_frame) >= 2 or self.nd[inner]["class"] != "choice") and frame:
                rebuilt: SearchBeam | None = None
                for old in reversed(frame):
                    rebuilt = SearchBeam(old.name, old.size, rebuilt, old.next_frame)
                beam = rebuilt
            out[rec] = beam
        return out

    def combine_message(self, node: str, exc: CombineError) -> str:
        """Inside a loop, templates combine beams ("Cannot combine beams"); elsewhere the real layer
        translates its inputs first and compares their search choices."""
        if self.rec_of(node) is not None:
            return f"Exception: {exc}"
        return (f"Exception: Cannot compare search choices\n <SearchChoices owner={exc.first.name}>,"
                f"\n <SearchChoices owner={exc.second.name}>\nwhich have traces: "
                f"{exc.first.chain} vs {exc.second.chain}")

    def known_length(self, rec: str) -> bool:
        """Whether the loop's length is known in advance, so that ``end`` is not needed (RETURNN's
        ``have_known_seq_len``): ``size_target``; in training the target (or, without ``end``,
        the input); in search a target some choice reads anyway (``cheating``, ``search: False``)."""
        opts = self.nd[rec]["options"]
        if opts.get("size_target"):
            return True
        if not self.search:
            return bool(opts.get("target")) or bool(opts.get("from", ["data"]))
        for node in self.children.get(rec, ()):
            c = self.nd[node]
            if c["class"] == "choice" and c["options"].get("target") and (
                    c["options"].get("cheating") or c["options"].get("scheduled_sampling")
                    or c["options"].get("search") is False):
                return True
        return False

    def _all_members(self, rec: str) -> set[str]:
        out: set[str] = set()
        todo = list(self.children.get(rec, ()))
        while todo:
            node = todo.pop()
            out.add(node)
            todo.extend(self.children.get(node, ()))
        return out

    def update_latest(self) -> list[str]:
        """Each rec loop's latest choice: its beam is what the loop's outputs carry after
        backtracking, its search choices what layers outside find. Returns the loops that changed."""
        changed: list[str] = []
        owners: dict[str, list[str]] = {}
        if self._loop_choosers is None:  # only choice and decide_keep_beam layers choose
            self._loop_choosers = [(n, self.rec_of(n)) for n in self.order if self.rec_of(n) is not None
                                   and self.nd[n]["node_kind"] != "sub" and get_layer_class(
                                       self.nd[n]["class"]).beam_role in ("choice", "decide_keep_beam")]
        for node, rec in self._loop_choosers:
            chosen = self.chosen.get(node)
            if chosen is not None and chosen.name == node:
                owners.setdefault(rec, []).append(node)
        for rec, nodes in owners.items():
            latest = None
            for node in nodes:
                prev = next((b for b in self.chosen[node].walk() if b.is_prev_frame), None)
                if prev is not None and prev.name.replace("prev:", "", 1) in nodes:
                    latest = prev.name.replace("prev:", "", 1)
                    break
            latest = latest or nodes[-1]
            beam, chosen = self.beam[latest], self.chosen[latest]
            if beam is None or chosen is None:
                continue
            if _differs(self.latest.get(rec), beam) or _differs(self.latest_chosen.get(rec), chosen):
                self.latest[rec], self.latest_chosen[rec] = beam, chosen
                changed.append(rec)
        return changed

    # -- placement --------------------------------------------------------------------------------
    def compute_placements(self) -> None:
        for node in self.order:
            data = self.nd[node]
            if data["unit"] is None or data["unit_kind"] != "rec":
                self.placement.setdefault(node, "net")
        for rec in [n for n in self.order if self.nd[n]["class"] == "rec"]:
            members = [n for n in self.children.get(rec, ()) if self.nd[n]["node_kind"] != "sub"]
            if members:
                self.move_out(rec, members)
            for sub in self.children.get(rec, ()):
                # sub-layers of choices (`out_0`) are templates of their own that nothing in the
                # loop depends on (users depend on the choice): RETURNN builds them after the loop
                if self.nd[sub]["node_kind"] == "sub" and self._parent_class(sub) == "choice":
                    self.placement[sub] = "output"
        for node in self.order:  # subnetwork layers and sub-layers share their holder's place
            rec = self.rec_of(node)
            if self.nd[node]["node_kind"] == "sub" and node not in self.placement:
                self.placement[node] = self.placement.get(next(iter(self.g.predecessors(node))), "net")
            elif rec is not None and self.nd[node]["unit"] != rec:
                self.placement[node] = self.placement.get(self._top_in_rec(node, rec), "loop")
        self._how_cache.clear()  # how inputs arrive depends on the placements
        self._static.clear()

    def spec_unit(self, node: str) -> Any:
        """The raw ``unit`` dict of a rec layer as written in the network (``#`` keys included)."""
        path = node.split("/")
        net: Any = self.spec.network
        for i, part in enumerate(path):
            desc = net.get(part) if isinstance(net, dict) else None
            if not isinstance(desc, dict):
                return None
            net = desc.get("unit") if desc.get("class") == "rec" else desc.get("subnetwork")
            if i == len(path) - 1:
                return net
        return None

    def _parent_class(self, sub: str) -> str:
        return self.nd[next(iter(self.g.predecessors(sub)))]["class"]

    def _reads_loop_input(self, node: str, rec: str, seen: set[str]) -> bool:
        """Whether ``node`` depends, inside the unit, on the rec layer's own input (``data:source``)."""
        if node in seen:
            return False
        seen.add(node)
        if self.nd[node]["class"] == "rec_unstack":  # frames of the loop's own time axis
            return True
        for src, _, form, _ in self.nd[node].get("inputs", []):
            if form == "data" and (self.g.edges[src, node]["ref"] in ("data", "data:source")
                                   or src in self._loop_sources(rec)):
                return True
            if self.nd[src].get("unit") == rec and form != "prev" and \
                    self._reads_loop_input(src, rec, seen):
                return True
        return False

    def _loop_sources(self, rec: str) -> set[str]:
        """The extern data nodes ``rec`` iterates over (its ``from``): read by name inside the unit,
        they are the same frames as ``data:source``."""
        sources = self.nd[rec]["options"].get("from", ["data"])
        sources = sources if isinstance(sources, (list, tuple)) else [sources]
        return {f"data:{s.removeprefix('data:')}" for s in sources
                if isinstance(s, str) and (s == "data" or s.startswith("data:"))}

    def _member_deps(self, rec: str, node: str) -> set[str]:
        if self.nd[node]["node_kind"] == "sub":  # `a/0` needs `a`
            return set(self.g.predecessors(node)) & set(self.children.get(rec, ()))
        deps: set[str] = set()
        drop_from = "from" not in {opt for _, opt, _ in self.inputs(node)} \
            and self.nd[node]["class"] == "choice"
        for src, option, _, _ in self.nd[node].get("inputs", []):
            if drop_from and option == "from":
                continue
            if self.nd[src]["node_kind"] == "sub":
                # in the templates a sub-layer's users depend on its parent layer
                src = next(iter(self.g.predecessors(src)))
            if src in self.built and src != rec and self.nd[src].get("unit") is not None \
                    and rec in self._recs_of(src):
                deps.add(self._top_in_rec(src, rec) if self.nd[src]["unit"] != rec else src)
        for inner in self.children.get(node, ()):
            deps |= {d for d in self._member_deps(rec, inner) if d != node}
        return deps

    def move_out(self, rec: str, members: list[str]) -> None:
        opts = self.nd[rec]["options"]
        move = opts.get("optimize_move_layers_out", self.spec.settings.get("optimize_move_layers_out"))
        if move is False:
            for node in members:
                self.placement[node] = "loop"
            return
        deps = {n: self._member_deps(rec, n) for n in members}
        local = {n: self.nd[n]["local"] for n in members}
        needed = [n for n in members if local[n] == "output"
                  or (local[n] == "end" and not self.known_length(rec))
                  or self.nd[n]["options"].get("is_output_layer")
                  or self.nd[n]["options"].get("need_last")
                  or (self.eval_flag and self.nd[n]["options"].get("loss"))]
        loop: list[str] = []
        todo = list(needed)
        while todo:  # the layers the needed outputs depend on, current or previous frame
            node = todo.pop(0)
            if node not in loop:
                loop.append(node)
                todo.extend(sorted(deps[node] - set(loop)))
        for node in members:
            if node not in loop:
                self.placement[node] = "unused"

        def is_choice(n: str) -> bool:
            return self.is_search_choice(n) or self.nd[n]["class"] in (
                "decide_keep_beam", "choice") and self.search

        in_loop = set(loop)
        users: dict[str, set[str]] = {n: set() for n in loop}
        for other in loop:
            for dep in deps[other]:
                if dep != other and dep in users:
                    users[dep].add(other)

        def out_ok(n: str) -> bool:
            if local[n] == "end" or is_choice(n) or n in deps[n]:
                return False
            return not users[n]

        def in_ok(n: str) -> bool:
            if local[n] in (":i", "end") or is_choice(n):
                return False
            return not deps[n] & in_loop

        def take(n: str, where: str) -> None:
            loop.remove(n)
            in_loop.discard(n)
            for d in deps[n]:
                users.get(d, set()).discard(n)
            self.placement[n] = where

        while True:
            moved = next((n for n in loop if out_ok(n)), None)
            if moved:
                take(moved, "output")
                continue
            moved = next((n for n in loop if in_ok(n)), None)
            if moved is None:
                break
            take(moved, "input")
        for node in loop:
            self.placement[node] = "loop"
        # An input-moved layer over the loop's own input frames that the loop reads is unstacked
        # into a per-frame layer of the same name inside the loop (RETURNN's "input-moved-out"
        # wrapper); that one is what RETURNN lists, in the loop, with no beam and no choice.
        over_input = {n for n in members if self.placement.get(n) == "input"
                      and self._reads_loop_input(n, rec, set())}
        for node in over_input:
            if any(node in deps[o] for o in loop):
                self.wrapped_input.add(node)

    # -- choices ----------------------------------------------------------------------------------
    def result(self) -> dict[str, LayerBeam]:
        from .availability import unavailable_layers
        from .failures import Failure, predict_failures, raised_by_templates

        self._final_beams = {}
        for node, message in self.template_errors.items():
            self.error[node] = message
        failures: dict[str, Failure] = {}
        for node, message in self.error.items():  # beams that cannot be combined or compared
            failures[node] = Failure(
                "SG101", node, message, "search choices cannot be compared",
                f"{node} combines inputs on beams of unrelated choices (neither was chosen from the "
                "other), e.g. two independent choices of one frame, or two decoders.",
                "Combine them only after a 'decide' on each, or chain the choices (feed one "
                "choice's output into the other's scores).", self.error_traces.get(node, ()))
        for node, failure in predict_failures(self).items():
            failures.setdefault(node, failure)
        for node in self.order if self.g.graph.get("missing") else ():  # references to no layer
            for src, _, _, _ in self.nd[node].get("inputs", []):
                if self.nd[src]["node_kind"] == "missing" and node not in failures:
                    name = self.nd[src]["local"]
                    failures[node] = Failure(
                        "SG117", node, f"LayerNotFound: layer {name!r} not found (searched from "
                        f"{node})", "reference to a layer that does not exist",
                        f"{node} reads {name!r}, which is neither a layer of its network nor "
                        "available in search (targets are not layers there).",
                        f"Fix the name, or use the 'data:{name}' form where the data exists.")
        unavailable = unavailable_layers(self.spec, self.g, eval_flag=self.eval_flag)
        unbuilt_recs = {n for n in unavailable if self.nd[n]["class"] == "rec"}
        self.unbuilt = frozenset(n for n in self.order if unbuilt_recs & self._recs_of(n))
        for node in [n for n in failures if n in unavailable or n in self.unbuilt]:
            # DataNotAvailableLayers and the loops they stop: only templates are made
            if not raised_by_templates(failures[node], template_error=node in self.template_errors):
                del failures[node]
        self.failures = failures
        out: dict[str, LayerBeam] = {}
        for node in self.order:
            data = self.nd[node]
            placement = self.placement.get(node, "net")
            if data["node_kind"] == "sub" and data["unit_kind"] == "rec" and placement != "loop" \
                    and self._parent_class(node) == "choice":
                pass  # a sub-layer moved out of the loop is a layer of its own there
            elif data["node_kind"] not in ("layer", "step"):
                continue
            if placement == "unused":  # a template only: RETURNN builds no layer for it
                continue
            beam = self.beam.get(node)
            rec = self.rec_of(node)
            chosen = self.chosen.get(node)
            choice = chosen.name if chosen is not None else None
            if node in self.wrapped_input:
                placement, beam, choice = "loop", None, None
            elif placement == "input":
                # computed before the loop: no beam; its search-choice lookup finds nothing among its
                # deps and falls back to the rec layer's deps, i.e. the resolved output's choice
                beam = None
                choice = self.latest[rec].name if rec in self.latest else None
            elif placement == "output" and choice is None and rec in self.latest:
                choice = self.latest[rec].name  # the same fallback, from the output-side net
            if node in unavailable:
                choice = None  # a DataNotAvailableLayer: no dependencies, so no search choices
            error = failures[node].message if node in failures else None
            out[node] = LayerBeam(node, data["class"], placement, beam, choice,
                                  beam.chain if beam is not None else [], error, data.get("unit"),
                                  functools.partial(self.translate_inputs, node),
                                  chosen=chosen, available=node not in unavailable)
        return out

    def translate_inputs(self, node: str) -> list[InputBeam]:
        """Every layer in the layer's constructor arguments (RETURNN's E_translate, spec §1.4):
        sources (extern data and a loop's ``data:source`` included), layer-valued options,
        ``initial_output``, ``state``, and the layer's own previous frame (``rec_previous_layer``)
        when something reads ``prev:`` of it (always for ``end``, which is OR-ed with ``prev:end``).
        ``reuse_params`` layers are opaque there and not translated."""
        data = self.nd[node]
        out: list[InputBeam] = []
        loop_input_seen: set[str] = set()
        for src, option, form, search in data.get("inputs", []):
            kind_src = self.nd[src]["node_kind"]
            if (self.search and not search) or option.startswith(("reuse_params", "max_seq_len")) or \
                    kind_src == "missing" or (src not in self.built and kind_src == "layer"):
                continue
            if form == "data" and self.g.edges[src, node]["ref"] == "data:source":
                rec = self.rec_of(node)
                name = f"{rec}/data:source"
                if (name, option) in loop_input_seen:  # one layer, however many sources the loop has
                    continue
                loop_input_seen.add((name, option))
                beam = self.input_beam(src, "from", rec) if rec else None
                out.append(InputBeam(name, src, option, "data", beam))
                continue
            out.append(self._input(src, option, form, node))
        reads_prev = any(d["kind"] == "prev" and v != node or "prev" in d["kinds"]
                         for v, d in self.g._succ[node].items())
        is_end = data["local"] == "end" and data["unit_kind"] == "rec" and self.search
        if self.rec_of(node) and self.placement.get(node) == "loop":
            if data["class"] == "choice":
                # BaseChoiceLayer drops the automatic rec_previous_layer; a searching choice
                # without beamed sources takes its own prev frame instead (PR #1213)
                if self.is_search_choice(node) and all(i.beam is None for i in out
                                                       if i.option == "from"):
                    out.append(self._input(node, "rec_previous_layer", "prev", node))
            elif reads_prev or is_end:
                out.append(self._input(node, "rec_previous_layer", "prev", node))
        return out

    def batched(self, node: str) -> bool:
        """Whether the layer's output has a batch axis (``:i``, constants and variables do not, nor
        anything computed from them alone); RETURNN never translates such inputs."""
        if not self._batched:
            for name in self.order:  # construction order: inputs first (but a prev: input may come later)
                data = self.nd[name]
                if data["class"] in (":i", "variable", "constant") and not \
                        data["options"].get("add_batch_axis"):
                    result = False
                elif data["node_kind"] == "sub":
                    result = self._batched.get(next(iter(self.g.predecessors(name))), True)
                else:
                    # a prev: value counts like any input: batched unless its layer is known to be
                    # batch-less (``combine(prev:s, cast(:i))`` has prev:s's batch axis and beam)
                    srcs = [src for src, _, _, _ in data.get("inputs", [])]
                    result = any(self._batched.get(src, True) for src in srcs) if srcs else True
                self._batched[name] = result
        return self._batched.get(node, True)

    def _input(self, src: str, option: str, form: str, node: str) -> InputBeam:
        src_data = self.nd[src]
        local = src_data["local"]
        name = src
        if form == "prev":
            head, _, _ = src.rpartition(local)
            name = f"{head}prev:{local}"
        decided = get_layer_class(src_data["class"]).beam_role in ("decide", "split_batch_beam")
        kind = form if form in ("prev", "base", "sub", "data") else (
            "from" if option == "from" else f"option:{option}")
        return InputBeam(name, src, option, kind, self.input_beam(src, form, node), decided,
                         self.batched(src), self.input_choice(src, form, node))


def analyze(source: NetSpec | dict[str, Any] | str, mode: str = "search", *,
            graph: LayerGraph | nx.DiGraph | None = None, eval_flag: bool | None = None) -> Analysis:
    """Analyse a network's beams as RETURNN builds it in ``mode`` (``search`` or ``train``).

    The flags are RETURNN's ``TFNetwork`` flags: search mode is ``search_flag=True,
    train_flag=False`` and, unless ``eval_flag`` is given, ``eval_flag=False`` (losses inside rec
    loops are then not built); train mode is ``train_flag=True, eval_flag=True``.

    Examples
    --------
    >>> net = {"output": {"class": "rec", "from": [], "max_seq_len": 5, "unit": {
    ...     "prob": {"class": "softmax", "from": "prev:output", "n_out": 5},
    ...     "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes"}}}}
    >>> a = analyze(net)
    >>> a.layers["output/prob"].beam.name, a.layers["output/output"].beam.chain
    ('output/prev:output', ['output/output', 'output/prev:output'])
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    collecting = gc.isenabled()
    gc.disable()  # the analysis builds objects that all live as long as its result: no cycles to collect
    try:
        return _analyze(source, mode, graph, eval_flag)
    finally:
        if collecting:
            gc.enable()


def _analyze(source: NetSpec | dict[str, Any] | str, mode: str, graph: LayerGraph | nx.DiGraph | None,
             eval_flag: bool | None) -> Analysis:
    spec = load(source) if not isinstance(source, NetSpec) else source
    g = graph if graph is not None else build_layer_graph(spec, strict=False)
    flag = (mode == "train") if eval_flag is None else eval_flag
    analyzer = _Analyzer(spec, g, mode, eval_flag=flag)
    if mode == "search":
        templates = _Analyzer(spec, g, mode, template=True, eval_flag=flag, like=analyzer)
        templates.settled = analyzer.settled = _beamless_outside_loops(analyzer)
        templates.run()
        analyzer.rec_outer = templates.rec_output_templates()
        analyzer.template_beams = templates.beam
        # rec units are first built as templates: a template error stops RETURNN before any
        # layer is moved out of the loop or translated
        analyzer.template_errors = {n: e for n, e in templates.error.items() if templates.rec_of(n)}
        analyzer.error_traces.update({n: t for n, t in templates.error_traces.items()
                                      if n in analyzer.template_errors})
        analyzer.placement = templates.placement  # placements do not depend on the pass
        analyzer.wrapped_input = templates.wrapped_input

    analyzer.run()
    layers = analyzer.result()
    return Analysis(spec, g, mode, layers,
                    {rec: beam.name for rec, beam in analyzer.latest.items()},
                    {n: f for n, f in analyzer.failures.items() if n in layers}, analyzer.unbuilt,
                    frozenset(n for n in analyzer.order
                              if analyzer.nd[n]["class"] == "rec" and analyzer.known_length(n)))
