"""The errors RETURNN raises while building a network in search mode, predicted per layer.

Each rule names the layer RETURNN is constructing when it raises and RETURNN's own message (spec
§8), prefixed with the exception type as RETURNN reports it. Rules read the provenance analyzer's
state (beams, placements, latest choices); they never raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .layers import get_layer_class

if TYPE_CHECKING:  # pragma: no cover
    from .provenance import _Analyzer

__all__ = ["predict_errors"]

Rule = Callable[["_Analyzer"], dict[str, str]]
_RULES: list[Rule] = []


def _rule(fn: Rule) -> Rule:
    _RULES.append(fn)
    return fn


def predict_errors(an: _Analyzer) -> dict[str, str]:
    """Layer name -> predicted error, first rule wins per layer."""
    errors: dict[str, str] = {}
    for rule in _RULES:
        for layer, message in rule(an).items():
            errors.setdefault(layer, message)
    return errors


@_rule
def _prev_prev(an: _Analyzer) -> dict[str, str]:
    return {consumer: "AssertionError: Multiple 'prev:' prefixes are not allowed "
                      f"({ref!r}): only the previous frame can be accessed"
            for consumer, ref in an.g.graph.get("prev_prev", []) if consumer in an.built}


@_rule
def _choice_options(an: _Analyzer) -> dict[str, str]:
    out = {}
    for node in an.order:
        data = an.nd[node]
        if data["class"] != "choice":
            continue
        opts = data["options"]
        if "from" not in opts:
            out[node] = "AssertionError: specify 'from' explicitly for choice layer"
        elif "target" not in opts:
            out[node] = "AssertionError: ChoiceLayer: specify 'target' explicitly"
        elif opts.get("search") is False and an.search and an.beam.get(node) is not None \
                and opts.get("length_normalization", True):
            out[node] = ("AssertionError: a choice with search=False in a search network adds its "
                         "scores to the beam (add_to_beam_scores), which requires "
                         "length_normalization=False")
    return out


@_rule
def _rec_length(an: _Analyzer) -> dict[str, str]:
    """A searching rec loop without input needs an ``end`` layer and ``max_seq_len``."""
    out = {}
    if not an.search:
        return out
    for node in an.order:
        data = an.nd[node]
        unit = an.children.get(node)
        if data["class"] != "rec" or not unit:
            continue
        opts = data["options"]
        has_input = bool(opts.get("from", ["data"])) or opts.get("size_target") or any(
            an.nd[n]["class"] == "rec_unstack" and an.nd[n]["options"].get("declare_rec_time")
            for n in unit)
        if has_input:
            continue
        locals_ = {an.nd[n]["local"] for n in unit}
        if "end" not in locals_:
            out[node] = "AssertionError: You need to have an 'end' layer in your rec subnet."
        elif opts.get("max_seq_len") is None:
            out[node] = f"AssertionError: <RecLayer {data['local']!r}>: specify max_seq_len"
    return out


@_rule
def _decided_with_beam(an: _Analyzer) -> dict[str, str]:
    """A decided layer combined with a still-beamed one: RETURNN selects, and finds no common base."""
    out = {}
    for node in an.order:
        ins = an.inputs(node)
        if len(ins) < 2:
            continue
        decided = [s for s, _, _ in ins if get_layer_class(an.nd[s]["class"]).beam_role ==
                   "decide" and any(an.beam.get(p) for p, _, _, _ in an.nd[s].get("inputs", []))]
        beamed = [s for s, _, f in ins if an.input_beam(s, f, node) is not None]
        if decided and beamed:
            out[node] = (f"AssertionError: {node}: No common search base:\nfrom layer {decided[0]}, "
                         f"search choices decided,\nto layer {beamed[0]}, search choices "
                         f"{an.input_beam(beamed[0], 'from', node)}.")
    return out


@_rule
def _end_beam(an: _Analyzer) -> dict[str, str]:
    """The end layer's choice must be one of the output's in-frame choices."""
    out = {}
    for rec, latest in an.latest.items():
        end = f"{rec}/end"
        beam = an.beam.get(end)
        if beam is None or end not in an.built:
            continue
        owner = beam.name.replace("prev:", "", 1)
        frame = [n.replace("prev:", "", 1) for n in latest.chain]
        if owner not in frame:
            out[rec] = (f"AssertionError: End layer must not have a beam independent from output "
                        f"layer '{latest.name}'.")
    return out


@_rule
def _moved_out_multi_input(an: _Analyzer) -> dict[str, str]:
    """A moved-out layer with several inputs, one a beamed loop output: RETURNN attaches the search
    choices to loop outputs only after building the moved-out layers (spec §6.5)."""
    out = {}
    for node in an.order:
        if an.placement.get(node) != "output" or len(an.inputs(node)) < 2:
            continue
        rec = an.rec_of(node)
        for src, _, form in an.inputs(node):
            if form != "prev" and an.placement.get(src) == "loop" and an.rec_of(src) == rec \
                    and an.beam.get(src) is not None and rec in an.latest:
                out[node] = (f"AssertionError: layer <WrappedInternalLayer {src!r}> has beam "
                             f"{an.latest[rec]} but no search choices; from layer desc {node!r}")
                break
    return out


@_rule
def _unknown_class(an: _Analyzer) -> dict[str, str]:
    """RETURNN refuses classes it does not know; inside a rec loop the template construction can
    then also leave lookups of the layer's target behind (LayerNotFound)."""
    return {node: f"Exception: unknown layer class {an.nd[node]['class']!r}"
            for node in an.order
            if an.nd[node]["node_kind"] == "layer" and not an.nd[node].get("known", True)}


_SPARSE_KEEPING = frozenset({"copy", "identity", "eval", "reinterpret_data", "gather", "slice",
                             "expand_dims", "squeeze", "postfix_in_time", "prefix_in_time"})


def _is_sparse(an: _Analyzer, node: str, seen: frozenset[str] = frozenset()) -> bool:
    data = an.nd[node]
    opts = data["options"]
    if node in seen or data["node_kind"] == "missing":
        return False
    if data["node_kind"] == "data":
        key = node[len("data:"):]
        ext = (an.spec.extern_data or {}).get(key)
        return bool(ext.get("sparse") or ext.get("sparse_dim")) if isinstance(ext, dict) else False
    if data["class"] == "choice":  # its output is its target's (labels), or sparse scores' argmax
        if opts.get("input_type") == "regression":
            return False
        target = opts.get("target")
        target = target[0] if isinstance(target, list) and target else target
        ext = (an.spec.extern_data or {}).get(target) if isinstance(target, str) else None
        return bool(ext.get("sparse") or ext.get("sparse_dim")) if isinstance(ext, dict) else True
    if data["class"] == "reinterpret_data" and "set_sparse" in opts:
        return bool(opts["set_sparse"])
    if data["class"] not in _SPARSE_KEEPING or opts.get("out_type") or opts.get("n_out"):
        return False
    sources = [s for s, opt, _, _ in data.get("inputs", []) if opt == "from"]
    return bool(sources) and _is_sparse(an, sources[0], seen | {node})


@_rule
def _sparse_prev_without_initial_output(an: _Analyzer) -> dict[str, str]:
    out = {}
    for node in an.order:
        data = an.nd[node]
        if an.rec_of(node) is None or data["unit_kind"] != "rec" or an.placement.get(node) != "loop":
            continue
        if data["options"].get("initial_output") is not None:
            continue
        read_prev = any(d["kind"] == "prev" or "prev" in d["kinds"]
                        for _, _, d in an.g.out_edges(node, data=True))
        if read_prev and _is_sparse(an, node):
            out[node] = ("Exception: You must explicitly provide an initial output value for sparse "
                         f"data {data['local']}_output. E.g. '{data['local']}': "
                         "{'initial_output': 'zeros'}.")
    return out
