"""Which layers RETURNN builds without data in search: ``DataNotAvailableLayer``.

In a network built with ``eval_flag=False`` (search, forwarding), a layer whose output template is
not ``available_for_inference`` is not built at all: ``TFNetwork._create_layer`` puts a
``DataNotAvailableLayer`` there (network.py L1313). Such a layer

* has no dependencies, so ``get_search_choices`` finds no choice for it, even when its template
  carries a beam;
* for a rec layer, never runs its loop: the unit's layers exist only as templates, none is
  constructed, nothing is translated into a beam and nothing is re-selected at frame ends.

Availability starts at the extern data (``_extern_data_types_from_config``, network.py L359-L411,
and the heuristic in ``ExternData.init_from_config``, L95) and is carried by output templates
(``copy_template`` keeps it, ``LayerBase._post_init_output`` clears it when a source lacks it,
base.py L606); a ``choice`` layer's output is always available (its search replaces the data,
rec.py L6733). This module follows that along the layer graph: a layer is unavailable when its
class' template carries the flag (``LayerClass.without_data``, measured with
``scripts/probe_availability.py``) and one of the inputs its output is made from is unavailable (its
``from``, attention bases, a rec or subnetwork layer's unit ``output``). ``prev:`` values do not count:
a rec unit's templates are made before the templates they read as ``prev:`` are complete.

A class whose ``get_out_data_from_opts`` makes a fresh ``Data`` (``conv``, ``pool``, ``dot``,
``reduce``, ...) gives an available template whatever its inputs: RETURNN builds such a layer for real.
On an input that has no data (a ``DataNotAvailableLayer`` holds a template only; the extern data's
own one still holds its placeholder) that raises, e.g. ``ValueError: None values not supported.``:
:attr:`Availability.without_data`. So does a rec layer whose unit ``output`` is available (built for
real) while its input has no data: it reads the whole input into its loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..graph.layergraph import LayerGraph, node_table
from ..graph.layers import get_layer_class
from ..loading.netspec import NetSpec

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Availability", "availability", "extern_available", "unavailable_layers"]

#: Options whose layers do not shape the output template (they give sizes, parameters, initial
#: values, search bookkeeping, or are targets that search mode does not read).
_NOT_TEMPLATE = frozenset({
    "target", "reuse_params", "max_seq_len", "max_seq_len_via", "initial_output", "initial_state",
    "rec_previous_layer", "collocate_with", "explicit_search_source", "explicit_search_sources",
    "search_choices", "size_base", "batch_dim_base", "size_target", "extra_deps",
    "control_dependencies", "shape_deps", "seq_len_source", "declare_same_sizes_as",
    "output_dim_via_time_from", "chunking_layer", "staircase_seq_len_source", "masked_from",
    "mask", "init_by_layer", "extra"})

#: A ``first`` class whose template is copied from another option than ``from``: ``edit_distance``'s
#: ``Data.get_common_data`` of ``a`` and ``b`` without their time axes keeps ``a``'s on equal ranks
#: (``EditDistanceLayer.get_out_data_from_opts``; probed: ``a`` unavailable carries, ``b`` does not).
_TEMPLATE_OPTION = {"edit_distance": ("a",)}


#: classes whose template is made fresh from their state's and sources' axes (``RnnCellLayer``): their
#: ``prev:`` inputs do not hand on "not available for inference"
_FRESH_STATE = frozenset({"rnn_cell"})


def extern_available(spec: NetSpec) -> dict[str, bool]:
    """Extern data key -> ``available_for_inference`` as RETURNN sets it up from the config.

    An explicit ``available_for_inference`` wins; otherwise only the default input (``default_input``,
    ``data``) is available. If that leaves none available, every key but the default target
    (``target``, ``classes``) becomes available.
    """
    default_input = spec.settings.get("default_input", "data")
    declared: dict[str, Any] = {}
    if spec.extern_data:
        declared.update(spec.extern_data)
    elif spec.num_outputs:
        declared.update(spec.num_outputs)
    for key in spec.data_keys():
        declared.setdefault(key, None)
    out = {}
    for key, opts in declared.items():
        flag = opts.get("available_for_inference") if isinstance(opts, dict) else None
        out[key] = bool(flag) if flag is not None else key == default_input
    if out and not any(out.values()):
        out = {key: key != spec.default_target for key in out}
    return out


@dataclass(frozen=True)
class Availability:
    """Which layers lack data in search (``eval_flag=False``).

    Attributes
    ----------
    unavailable : layers whose output template is not available for inference: RETURNN builds a
        ``DataNotAvailableLayer`` for each one it constructs.
    origin : unavailable layer (or extern data node) -> the extern data key it lacks (``classes``); also
        a ``length`` of a time axis that a rec layer without data makes (built for real, its value None).
    without_data : layer RETURNN builds for real on an input that has no data -> that input. Its class
        makes an output template of its own that is available, or (a rec layer with a unit) its unit's
        ``output`` is available, while an input is a ``DataNotAvailableLayer`` with a template only
        (no placeholder), or the ``length`` of a time axis such a rec layer makes: building it raises.
    """

    unavailable: frozenset[str] = frozenset()
    origin: dict[str, str] = field(default_factory=dict)
    without_data: dict[str, str] = field(default_factory=dict)


def unavailable_layers(spec: NetSpec, g: LayerGraph | nx.DiGraph, *, eval_flag: bool = False) -> set[str]:
    """The graph's layers whose output is not available for inference; with ``eval_flag=False``
    RETURNN builds a ``DataNotAvailableLayer`` for each one it constructs (none with
    ``eval_flag=True``)."""
    return set(availability(spec, g, eval_flag=eval_flag).unavailable)


def availability(spec: NetSpec, g: LayerGraph | nx.DiGraph, *, eval_flag: bool = False) -> Availability:
    """Follow "not available for inference" from the extern data along the layer graph.

    A layer is unavailable when its class' template carries the flag (``LayerClass.without_data``:
    ``carries``, ``copies``) and one of the inputs its template is made from is unavailable; a rec or
    subnetwork layer with a unit follows its unit's ``output``. A ``first`` class copies the template of
    its first source with the most axes: unavailable when its first source is; when only a later one is,
    it depends on ranks this module does not know, and the layer counts as unavailable without being
    sure of it (no error is predicted on it or downstream of it). A layer whose class makes a fresh
    template (``fresh``, ``fresh_sizes``) stays available: RETURNN builds it for real, which for
    ``fresh`` raises when an input surely holds no data (an unavailable layer other than the extern
    data itself, whose ``DataNotAvailableLayer`` keeps the extern placeholder).
    """
    if eval_flag:
        return Availability()
    extern = extern_available(spec)
    nd = node_table(g)
    origin: dict[str, str] = {}
    for node, data in nd.items():
        if data["node_kind"] == "data" and not extern.get(node[len("data:"):], True):
            origin[node] = node[len("data:"):]
    if not origin:
        return Availability()

    def unit_output(node: str) -> list[str]:
        if nd[node]["class"] in ("rec", "subnetwork"):
            return [p for p, _, d in g.in_edges(node, data=True) if d["option"] == "unit"]
        return []

    def made_from(node: str, with_prev: bool = True) -> list[str]:
        """The layers whose templates ``node``'s template is made from; a ``prev:`` input is its
        layer's template copied as the previous frame (``copy_as_prev_time_frame``, the flag kept), but
        it has a value (the loop's state), so ``with_prev=False`` leaves it out where data is asked for.
        ``rnn_cell`` makes a fresh template (``RnnCellLayer``), so its ``prev:`` inputs do not count."""
        data = nd[node]
        if data["node_kind"] == "sub":  # a sub-layer is part of its parent's output
            return list(g.predecessors(node))
        if data["class"] == "choice":
            return []
        inner = unit_output(node)
        if inner:
            return inner  # the output template is the unit's ``output``
        prev_ok = with_prev and data["class"] not in _FRESH_STATE
        return [src for src, option, form, _ in data.get("inputs", [])
                if (form != "prev" or prev_ok) and option.split(".")[0] not in _NOT_TEMPLATE]

    def kind(node: str) -> str:
        """``without_data`` of the node's class; sub-layers and units follow their parent / output."""
        if nd[node]["node_kind"] == "sub" or unit_output(node):
            return "carries"
        return get_layer_class(nd[node]["class"]).without_data

    def closure(takes: Callable[[str, str], bool]) -> dict[str, str]:
        """Forward from the extern data: ``user`` lacks the flag when ``takes(src, user)``."""
        out = dict(origin)
        todo = list(origin)
        while todo:
            src = todo.pop()
            for user in g.successors(src):
                if user not in out and takes(src, user):
                    out[user] = out[src]
                    todo.append(user)
        return out

    def template_source(node: str) -> str | None:
        """The source a ``first`` class copies its template from when ranks are equal."""
        first = _TEMPLATE_OPTION.get(nd[node]["class"], ("from", "true_from"))
        return next((src for src, option, form, _ in nd[node].get("inputs", [])
                     if option in first and form != "prev"), None)

    # unavailable: a ``first`` class is taken to carry every source's flag (which source it copies
    # depends on ranks we do not know); sure: unavailable whichever source it copies
    # (a class whose template option is known, ``_TEMPLATE_OPTION``, copies that one's flag only)
    unavailable = closure(lambda src, user: kind(user) not in ("fresh", "fresh_sizes") and src in made_from(user)
                          and (nd[user]["class"] not in _TEMPLATE_OPTION or src == template_source(user)))
    sure = closure(lambda src, user: src in made_from(user) and (
        kind(user) in ("carries", "copies") or kind(user) == "first" and src == template_source(user)))
    no_data: dict[str, bool] = {}

    def lacks_data(node: str, seen: frozenset[str] = frozenset()) -> bool:
        """Surely a ``DataNotAvailableLayer`` that holds a template only (no placeholder): not the
        extern data itself, nor a ``copies`` class on it."""
        if node not in sure or nd[node]["node_kind"] == "data" or node in seen:
            return False
        if node not in no_data:
            no_data[node] = kind(node) != "copies" or any(lacks_data(src, seen | {node}) for src in made_from(node))
        return no_data[node]

    def own_time_lacks_size(node: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether an unavailable layer's time axis is one a rec layer without data makes (its loop
        never runs, so that axis' sizes are None), following the templates it copies."""
        if node not in sure or node in seen or nd[node]["node_kind"] == "data":
            return False
        if nd[node]["class"] == "rec" and unit_output(node):
            return True
        return kind(node) in ("carries", "copies", "first") and any(
            own_time_lacks_size(src, seen | {node}) for src in made_from(node))

    #: ``length`` layers (``fresh_sizes``: built for real) of such a time axis: their value is None
    sizes_missing = {node for node, data in nd.items()
                     if data["node_kind"] == "layer" and node not in unavailable and kind(node) == "fresh_sizes"
                     and any(own_time_lacks_size(src) for src in made_from(node))}

    without: dict[str, str] = {}
    keys: dict[str, str] = {}  # a length without value -> the data key its input lacks
    for node, data in nd.items():
        if node in unavailable or data["node_kind"] != "layer":
            continue
        missing = next((src for src in made_from(node) if src in sizes_missing), None)
        if missing is not None and kind(node) not in ("fresh_sizes",) and len(made_from(node)) == 1:
            # built for real on a length whose value is None (with other inputs, translating them
            # into a common beam comes first, and fails first: the length has a beam, no choices)
            without[node] = missing
            keys[missing] = next(unavailable[s] for s in made_from(missing) if s in unavailable)
            continue
        if unit_output(node):  # built for real: a rec layer reads its whole input into the loop
            if data["class"] != "rec":
                continue
            inputs = [src for src, option, form, _ in data.get("inputs", []) if option == "from" and form != "prev"]
        elif data["class"] == "choice":
            # a choice's output is always available (its search replaces the data): a searching choice is
            # built for real, and takes the log of its scores (``ChoiceLayer._get_scores``: ``safe_log``)
            if data["options"].get("search", True) is False:
                continue
            inputs = [src for src, option, form, _ in data.get("inputs", [])
                      if option == "from" and form != "prev"][:1]
        elif get_layer_class(data["class"]).without_data == "fresh":
            # in a rec unit, ``data:source`` is the loop's own frame of the rec layer's input, not
            # that input (the rec layer reads it: see above)
            sliced = {src for src, _, form, _ in data.get("inputs", [])
                      if form == "data" and data["unit_kind"] == "rec" and nd[src]["node_kind"] != "data"}
            inputs = [src for src in made_from(node, with_prev=False) if src not in sliced]
        else:
            continue
        found = next((src for src in inputs if lacks_data(src)), None)
        if found is not None:
            without[node] = found
    return Availability(frozenset(n for n in unavailable if nd[n]["node_kind"] != "data"), {**unavailable, **keys},
                        without)
