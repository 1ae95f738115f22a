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
rec.py L6733). This module follows that along the layer graph: a layer is unavailable when one of
the inputs its output is made from is (its ``from``, attention bases, a rec or subnetwork layer's
unit ``output``). ``prev:`` values do not count: a rec unit's templates are made before the
templates they read as ``prev:`` are complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..graph.layergraph import LayerGraph, node_table
from ..loading.netspec import NetSpec

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["extern_available", "unavailable_layers"]

#: Options whose layers do not shape the output template (they give sizes, parameters, initial
#: values, search bookkeeping, or are targets that search mode does not read).
_NOT_TEMPLATE = frozenset({
    "target", "reuse_params", "max_seq_len", "max_seq_len_via", "initial_output", "initial_state",
    "rec_previous_layer", "collocate_with", "explicit_search_source", "explicit_search_sources",
    "search_choices", "size_base", "batch_dim_base", "size_target", "extra_deps",
    "control_dependencies", "shape_deps", "seq_len_source", "declare_same_sizes_as",
    "output_dim_via_time_from", "chunking_layer", "staircase_seq_len_source", "masked_from",
    "mask", "init_by_layer", "extra"})


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


def unavailable_layers(spec: NetSpec, g: LayerGraph | nx.DiGraph, *, eval_flag: bool = False) -> set[str]:
    """The graph's layers whose output is not available for inference; with ``eval_flag=False``
    RETURNN builds a ``DataNotAvailableLayer`` for each one it constructs (none with
    ``eval_flag=True``)."""
    if eval_flag:
        return set()
    extern = extern_available(spec)
    nd = node_table(g)
    unavailable: set[str] = set()
    for node, data in nd.items():
        if data["node_kind"] == "data" and not extern.get(node[len("data:"):], True):
            unavailable.add(node)
    if not unavailable:
        return set()

    def made_from(node: str) -> list[str]:
        data = nd[node]
        if data["node_kind"] == "sub":  # a sub-layer is part of its parent's output
            return list(g.predecessors(node))
        if data["class"] == "choice":
            return []
        if data["class"] in ("rec", "subnetwork"):
            inner = [p for p, _, d in g.in_edges(node, data=True) if d["option"] == "unit"]
            if inner:
                return inner  # the output template is the unit's ``output``
        return [src for src, option, form, _ in data.get("inputs", [])
                if form != "prev" and option.split(".")[0] not in _NOT_TEMPLATE]

    todo = list(unavailable)
    while todo:  # forward closure: an input without data takes it away from its users
        src = todo.pop()
        for user in g.successors(src):
            if user not in unavailable and src in made_from(user):
                unavailable.add(user)
                todo.append(user)
    return {n for n in unavailable if nd[n]["node_kind"] != "data"}
