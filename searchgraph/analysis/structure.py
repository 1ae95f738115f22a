"""The network as RETURNN constructs it in one mode, before any beam: shared by both passes.

Which layers are constructed (``TFNetwork.construct_from_dict`` from the output layers and losses:
:func:`~searchgraph.graph.constructed_layers`), in which order (dependencies first, ``prev:`` edges
aside: the order ``TFNetwork._create_layer`` reaches them), which rec loop and unit holds each layer
(``_SubnetworkRecCell``), the inputs that carry beams and search choices (``LayerBase.get_dep_layers``
and the template's sources), batch axes, and whether a loop's length is known before it runs
(``_SubnetworkRecCell.get_output``: ``have_known_seq_len``). Nothing here depends on a beam.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..graph.builder import constructed_layers
from ..graph.layergraph import LayerGraph, node_table, successor_table
from ..graph.layers import REC_STATE_CLASSES, get_layer_class
from ..loading.netspec import NetSpec
from .layouts import made_dims, names_batch

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["MADE_FROM_NOTHING", "MODES", "Structure", "construction_order"]

MODES = ("search", "train")


def construction_order(g: LayerGraph | nx.DiGraph) -> list[str]:
    """Kahn's algorithm over the non-``prev`` edges, ties broken by insertion order (stable)."""
    succ = successor_table(g)
    indeg = dict.fromkeys(g, 0)

    def same_frame(data: dict) -> bool:  # a prev: edge that also is this frame's (a `target`)
        return data["kind"] != "prev" or any(k != "prev" for k in data.get("kinds", ()))

    for u in g:
        for v, data in succ[u].items():
            if same_frame(data):
                indeg[v] += 1
    ready = [n for n in g if indeg[n] == 0]
    ready.reverse()
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        released = []
        for v, data in succ[node].items():
            if same_frame(data):
                indeg[v] -= 1
                if indeg[v] == 0:
                    released.append(v)
        ready.extend(reversed(released))
        if not ready and len(order) < len(indeg):
            # a cycle inside a rec unit: RETURNN's template construction hands out the template of
            # a layer still under construction; take the first waiting layer (insertion order)
            stuck = next(n for n in g if indeg[n] > 0)
            indeg[stuck] = 0
            ready.append(stuck)
    return order


#: classes that make their value from nothing: a batch axis only where they make one (:meth:`Structure.batched`)
MADE_FROM_NOTHING = frozenset({":i", "variable", "constant", "random", "rand_int", "range"})

class Structure:
    """The constructed layers of a network in one mode, their order, loops and beam-carrying inputs.

    Attributes
    ----------
    spec, graph : the network and its layer graph.
    search : search mode (``search_flag=True``); else training.
    eval_flag : RETURNN's ``eval_flag`` (losses inside rec loops are built).
    nodes : node -> its attributes in the graph (``class``, ``options``, ``unit``, ``unit_kind``,
        ``local``, ``node_kind``, ``inputs``: see :mod:`searchgraph.graph.builder`); read only.
    users : node -> {successor: edge attributes}; read only.
    built : every node RETURNN constructs.
    order : the constructed layers (no extern data) in construction order.
    children : unit layer (rec, subnetwork, a layer with sub-layers) -> its direct members, in order.
    """

    def __init__(self, spec: NetSpec, g: LayerGraph | nx.DiGraph, mode: str, eval_flag: bool):
        self.spec, self.graph, self.search, self.eval_flag = spec, g, mode == "search", eval_flag
        self.nodes = node_table(g)
        self.users = successor_table(g)
        self.built = constructed_layers(g, search=self.search, eval_flag=eval_flag)
        self.order = [n for n in construction_order(g)
                      if n in self.built and g.nodes[n]["node_kind"] != "data"]
        self.children: dict[str, list[str]] = {}
        for node in self.order:
            unit = g.nodes[node].get("unit")
            if unit is not None:
                self.children.setdefault(unit, []).append(node)
        self._rec: dict[str, str | None] = {}
        self._units: dict[str, frozenset[str]] = {}
        self._inputs: dict[str, list[tuple[str, str, str]]] = {}
        self._batched: dict[str, bool] = {}
        self._choosers: list[tuple[str, str | None]] | None = None

    @cached_property
    def made_dims(self) -> frozenset[str]:
        """The declared dims something in the network makes (:func:`~.layouts.made_dims`), once per
        network."""
        return made_dims(self.spec)

    # -- loops and units ------------------------------------------------------------------------------
    def rec_of(self, node: str) -> str | None:
        """The innermost rec layer whose loop holds ``node`` (through subnetworks), or None."""
        try:
            return self._rec[node]
        except KeyError:
            pass
        unit = self.nodes[node].get("unit")
        while unit is not None and self.nodes[unit]["class"] != "rec":
            unit = self.nodes[unit].get("unit")
        self._rec[node] = unit
        return unit

    def recs_of(self, node: str) -> frozenset[str]:
        """Every unit layer enclosing ``node``."""
        cached = self._units.get(node)
        if cached is None:
            recs: set[str] = set()
            unit = self.nodes[node].get("unit")
            while unit is not None:
                recs.add(unit)
                unit = self.nodes[unit].get("unit")
            cached = self._units[node] = frozenset(recs)
        return cached

    def top_in_rec(self, node: str, rec: str) -> str:
        """The direct member of rec's unit that holds ``node`` (itself or an enclosing subnetwork)."""
        while self.nodes[node].get("unit") != rec:
            node = self.nodes[node]["unit"]
        return node

    def members(self, rec: str) -> set[str]:
        """Every layer inside ``rec``'s unit, nested units included."""
        out: set[str] = set()
        todo = list(self.children.get(rec, ()))
        while todo:
            node = todo.pop()
            out.add(node)
            todo.extend(self.children.get(node, ()))
        return out

    def has_rec_state(self, node: str) -> bool:
        """Whether a layer inside a loop keeps a state of its own there (``REC_STATE_CLASSES``, or an
        inner ``rec`` with a cell unit, stepped once per frame): it gets its previous frame as
        ``rec_previous_layer`` in the loop."""
        data = self.nodes[node]
        if self.rec_of(node) is None:
            return False
        if data["class"] == "rec":
            return not isinstance(data["options"].get("unit"), dict)
        return data["class"] in REC_STATE_CLASSES

    def unit_output(self, rec: str) -> str | None:
        """The ``output`` layer of a rec (or subnetwork) layer's unit, if it has one."""
        return next((m for m in self.children.get(rec, ()) if self.nodes[m]["local"] == "output"), None)

    def accessed_sub_layer(self, node: str) -> str | None:
        """The rec sub-layer (``REC/sub``, named whether or not the unit has it) that a ``rec_last_output``
        (``sub_layer_name`` of its ``rec_layer``) or a ``get_rec_accumulated`` (``sub_layer`` of its one
        source) reads, or None for any other layer."""
        data = self.nodes[node]
        option, name = {"rec_last_output": ("rec_layer", "sub_layer_name"),
                        "get_rec_accumulated": ("from", "sub_layer")}.get(data["class"], (None, None))
        if option is None:
            return None
        recs = [src for src, opt, _ in self.inputs(node) if opt == option]
        sub = data["options"].get(name)
        return f"{recs[0]}/{sub}" if len(recs) == 1 and isinstance(sub, str) else None

    def parent(self, sub: str) -> str:
        """The layer a sub-layer (``a/0``-style node) belongs to."""
        return next(iter(self.graph.predecessors(sub)))

    def spec_unit(self, node: str) -> Any:
        """The raw ``unit`` dict of a rec layer (or a ``masked_computation``'s inline unit) as written in
        the network (``#`` keys included)."""
        path = node.split("/")
        net: Any = self.spec.network
        for i, part in enumerate(path):
            desc = net.get(part) if isinstance(net, dict) else None
            if not isinstance(desc, dict):
                return None
            net = desc.get("unit") if desc.get("class") in ("rec", "masked_computation") else desc.get("subnetwork")
            if i == len(path) - 1:
                return net
        return None

    def known_length(self, rec: str) -> bool:
        """Whether the loop's length is known in advance, so that ``end`` is not needed (RETURNN's
        ``have_known_seq_len``): ``size_target``; in training the target (or, without ``end``,
        the input); in search a target some choice reads anyway (``cheating``, ``search: False``)."""
        opts = self.nodes[rec]["options"]
        if opts.get("size_target"):
            return True
        if not self.search:
            return bool(opts.get("target")) or bool(opts.get("from", ["data"]))
        for node in self.children.get(rec, ()):
            c = self.nodes[node]
            if c["class"] == "choice" and c["options"].get("target") and (
                    c["options"].get("cheating") or c["options"].get("scheduled_sampling")
                    or c["options"].get("search") is False):
                return True
        return False

    def loop_sources(self, rec: str) -> set[str]:
        """The extern data nodes ``rec`` iterates over (its ``from``): read by name inside the unit,
        they are the same frames as ``data:source``."""
        sources = self.nodes[rec]["options"].get("from", ["data"])
        sources = sources if isinstance(sources, (list, tuple)) else [sources]
        return {f"data:{s.removeprefix('data:')}" for s in sources
                if isinstance(s, str) and (s == "data" or s.startswith("data:"))}

    # -- layers -----------------------------------------------------------------------------------------
    def is_search_choice(self, node: str) -> bool:
        """A ``choice`` layer that searches (``search`` option, else the network's search flag)."""
        data = self.nodes[node]
        if data["class"] != "choice":
            return False
        search = data["options"].get("search", None)
        return bool(search) if search is not None else self.search

    def adds_to_beam_scores(self, node: str) -> bool:
        """A ``choice`` whose scores go into the beam scores: ``add_to_beam_scores``, by default ``search or
        network.search_flag`` (``ChoiceLayer``; ``BaseChoiceLayer.cls_get_search_beam_size`` gives no beam
        size when it neither searches nor adds them)."""
        data = self.nodes[node]
        if data["class"] != "choice":
            return False
        return bool(data["options"].get("add_to_beam_scores", self.is_search_choice(node) or self.search))

    def owns_search_choices(self, node: str) -> bool:
        """A layer with search choices of its own: a searching ``choice``, or a ``decide_keep_beam``
        (its raw ones)."""
        return self.is_search_choice(node) or self.nodes[node]["class"] == "decide_keep_beam"

    def masked_choice_size(self, node: str) -> int | None:
        """The beam size of a searching ``choice`` that is a ``masked_computation``'s inline unit, else
        None. The unit is built as the masked layer itself (``MaskedComputationLayer._create_template``:
        its ``get_out_data_from_opts`` with the layer's name, in an extra net): it makes a beam of its
        own (``ChoiceLayer._create_search_beam``), but the masked layer is no ``BaseChoiceLayer``, so
        no search choices own that beam."""
        if self.nodes[node]["class"] != "masked_computation":
            return None
        unit = self.spec_unit(node)
        if not isinstance(unit, dict) or unit.get("class") != "choice":
            return None
        search = unit.get("search", None)
        if not (bool(search) if search is not None else self.search):
            return None
        return int(unit.get("beam_size", 1) or 1)

    def dropped_options(self, node: str) -> frozenset[str]:
        """Layer options whose layers ``transform_config_dict`` drops before asking for them: a ``choice``
        that does not search and adds no scores to the beam has its ``from`` emptied (its output is the
        target), and a choice's ``explicit_search_sources`` are layers only where it searches."""
        data = self.nodes[node]
        if data["class"] != "choice" or self.is_search_choice(node):
            return frozenset()
        if not self.adds_to_beam_scores(node) and not data["options"].get("scheduled_sampling"):
            return frozenset({"from", "explicit_search_source", "explicit_search_sources"})
        return frozenset({"explicit_search_source", "explicit_search_sources"})

    def asked_inputs(self, node: str) -> list[tuple[str, str, str]]:
        """:meth:`inputs` but ``target`` in the order ``transform_config_dict`` asks for them: a
        ``choice``'s ``explicit_search_sources`` first, then ``from``, then the other layer options
        (targets, asked for last, are the caller's: a data key or a ``layer:`` target)."""
        ins = self.inputs(node)
        first = [i for i in ins if i[1].startswith("explicit_search_source")] \
            if self.nodes[node]["class"] == "choice" else []
        return first + [i for i in ins if i[1] == "from"] \
            + [i for i in ins if i not in first and i[1] not in ("from", "target")]

    def inputs(self, node: str) -> list[tuple[str, str, str]]:
        """``(source, option, form)`` of the layer's inputs that carry beams and choices (RETURNN's
        template and dep sets)."""
        cached = self._inputs.get(node)
        if cached is None:
            cached = self._inputs[node] = self._dep_inputs(node)
        return cached

    def _dep_inputs(self, node: str) -> list[tuple[str, str, str]]:
        data = self.nodes[node]
        cls = get_layer_class(data["class"])
        inner = f"{node}/output"
        if cls.beam_role == "subnetwork" and inner in self.built and self.nodes[inner]["unit"] == node:
            # ``SubnetworkLayer.transform_config_dict`` empties ``from`` (the sources only reach the
            # inner layers as ``data``); its output is the inner ``output`` layer's
            # (``get_out_data_from_opts``), and that layer is its one dependency (``get_dep_layers``)
            return [(inner, "output", "from")]
        dep_opts = {r.name for r in cls.refs if r.dep} | {"from", "target", "condition", "true_layer",
                                                          "false_layer", "unit"}
        dep_opts -= self.dropped_options(node)
        out = []
        for src, option, form, search in data.get("inputs", []):
            if src not in self.built and self.nodes[src]["node_kind"] == "layer":
                continue
            if (search or not self.search) and option.partition(".")[0] in dep_opts:
                out.append((src, option, form))
        return out

    def batched(self, node: str) -> bool:
        """Whether the layer's output has a batch axis (``:i``, constants and variables do not, nor
        anything computed from them alone); RETURNN never translates such inputs."""
        if not self._batched:
            for name in self.order:  # construction order: inputs first (but a prev: input may come later)
                data = self.nodes[name]
                if data["class"] == "train_flag":
                    result = False  # ``TrainFlagLayer``: one bool scalar
                elif data["class"] in MADE_FROM_NOTHING:
                    result = _own_batch_axis(data["class"], data["options"])
                elif data["class"] == "range_in_axis" and not _names_batch_dim(data["options"].get("axis")):
                    result = False  # ``RangeInAxisLayer``: its axis only (a time axis keeps the beam its size carries)
                elif data["class"] == "reduce" and _over_batch(data["options"]):
                    result = False  # ``ReduceLayer`` over ``B``: the beam stays, the batch axis goes
                elif drops_batch_axis(data["class"], data["options"]) or data["class"] == "range_from_length":
                    result = False  # (``RangeFromLengthLayer``: only the new dim its source sizes)
                elif data["node_kind"] == "sub":
                    result = self._batched.get(self.parent(name), True)
                else:
                    # a prev: value counts like any input: batched unless its layer is known to be
                    # batch-less (``combine(prev:s, cast(:i))`` has prev:s's batch axis and beam)
                    srcs = [src for src, _, _, _ in data.get("inputs", [])]
                    result = any(self._batched.get(src, True) for src in srcs) if srcs else True
                self._batched[name] = result
        return self._batched.get(node, True)

    def loop_choosers(self) -> list[tuple[str, str | None]]:
        """``(layer, rec)`` of every layer in a loop that makes search choices (``choice``,
        ``decide_keep_beam``), in construction order."""
        if self._choosers is None:
            self._choosers = [(n, self.rec_of(n)) for n in self.order if self.rec_of(n) is not None
                              and self.nodes[n]["node_kind"] != "sub" and get_layer_class(
                                  self.nodes[n]["class"]).beam_role in ("choice", "decide_keep_beam")]
        return self._choosers


def _own_batch_axis(cls: str, opts: dict[str, Any]) -> bool:
    """Whether a layer that makes its value from nothing has a batch axis: a ``variable`` with
    ``add_batch_axis``, a ``constant`` with ``with_batch_dim``, a ``random`` / ``rand_int`` whose
    ``shape`` holds the batch dim; never the frame index ``:i`` nor a ``range``."""
    if cls == "variable":
        return bool(opts.get("add_batch_axis"))
    if cls == "constant":
        return bool(opts.get("with_batch_dim"))
    if cls in ("random", "rand_int"):
        shape = opts.get("shape")
        return isinstance(shape, (list, tuple)) and any(_is_batch_dim(d) for d in shape)
    return False


def _names_batch_dim(axis: Any) -> bool:
    """Whether an ``axis`` option (a description or a dim) is the batch axis."""
    return names_batch(axis) or _is_batch_dim(axis)


def _is_batch_dim(dim: Any) -> bool:
    """A dim of a layer's ``shape`` option (JSON: ``{"__dim__": {...}}``) that is the batch dim."""
    spec = dim.get("__dim__", dim) if isinstance(dim, dict) else None
    return isinstance(spec, dict) and (spec.get("kind") == "batch" or bool(spec.get("is_batch_dim")))


def drops_batch_axis(cls: str, opts: dict[str, Any]) -> bool:
    """Classes whose output replaces or drops the batch axis they are given as ``axis``: a ``slice``
    of it (a new dim derived from it, ``SliceLayer.get_out_data_from_opts``), a ``gather`` of one
    entry (an int ``position``: the axis goes), the ``length`` of it (the batch size, a scalar:
    ``LengthLayer``), or the ``length`` of a static axis (a constant scalar)."""
    axis = opts.get("axis", "T" if cls == "length" else None)
    batch = names_batch(axis)
    if cls == "slice":
        # a non-negative ``slice_end`` makes a new dim of the batch dim's kind (still a batch axis);
        # a start, a step or an end from the back derive a dim that is none
        end = opts.get("slice_end")
        return batch and not (isinstance(end, int) and end >= 0)
    if cls == "gather" and isinstance(opts.get("position"), int):
        return batch
    if cls == "length":
        return batch or axis in ("F", "f", "feature", "sparse_dim")
    return False


def _over_batch(opts: dict[str, Any]) -> bool:
    """Whether a ``reduce`` layer's ``axes`` (or ``axis``) include the batch axis (``B``, ``batch``)."""
    axes = opts.get("axes", opts.get("axis"))
    axes = axes if isinstance(axes, (list, tuple)) else [axes]
    return any(names_batch(a) for a in axes)
