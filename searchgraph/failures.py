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
        has_input = bool(opts.get("from", ["data"])) or an.known_length(node) or any(
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
    """The end flag is re-selected into every searching choice's base beam (``prev:end``); a choice
    whose choices do not descend from the end layer's choice has no common search base with it."""
    out = {}
    for rec in an.latest:
        end = f"{rec}/end"
        beam = an.chosen.get(end)
        if beam is None or end not in an.built:
            continue
        owner = beam.name.replace("prev:", "", 1)
        for node in an.children.get(rec, ()):
            chosen = an.chosen.get(node)
            if not an.is_search_choice(node) or chosen is None or chosen.name != node:
                continue
            frame = {b.name.replace("prev:", "", 1) for b in _walk(chosen)}
            if owner not in frame:
                out[node] = (f"AssertionError: <SelectSearchSourcesLayer 'prev:end'>: No common search "
                             f"base: the end layer's choice {owner} is independent of {node}'s "
                             f"choices {[b.name for b in _walk(chosen)]}")
    return out


def _walk(beam):
    from .provenance import _walk as walk

    return walk(beam)


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
    sources = [s for s, opt, _, _ in data.get("inputs", []) if opt == "from" and s != node]
    if data["class"] == "eval":  # an eval without out_type takes the sources' common template
        return any(_is_sparse(an, s, seen | {node}) for s in sources)
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


@_rule
def _foreign_beam_in_loop(an: _Analyzer) -> dict[str, str]:
    """A loop layer that mixes its own loop's beam with the still-beamed output of another search
    (a decoder reading another decoder's undecided output): RETURNN has no mapping between them."""
    out = {}
    for node in an.order:
        rec = an.rec_of(node)
        if rec is None or an.placement.get(node) != "loop":
            continue
        beams = [b for b in (an.input_beam(s, f, node) for s, _, f in an.inputs(node)) if b]
        own = [b for b in beams if b.name.startswith(rec + "/")]
        foreign = [b for b in beams if not b.name.startswith(rec + "/")]
        if own and foreign:
            out[node] = (f"AssertionError: {node}: {foreign[0]} from outside the loop is still "
                         f"beamed and cannot be related to the loop's {own[0]} (No cur -> prev "
                         "mapping / buggy search choices resolution)")
    return out


@_rule
def _root_choice(an: _Analyzer) -> dict[str, str]:
    """A searching choice outside any loop needs a beamed input (its base choice) and no length
    normalisation (which needs the loop's step info)."""
    out = {}
    for node in an.order:
        data = an.nd[node]
        if data["class"] != "choice" or an.rec_of(node) is not None or not an.is_search_choice(node):
            continue
        if all(an.input_beam(s, f, node) is None for s, _, f in an.inputs(node)):
            out[node] = ("AssertionError: Not implemented yet. In rec-layer, we would always have our "
                         "prev-frame as one previous search choice. Our deps: no beamed input")
        elif data["options"].get("length_normalization", True):
            out[node] = ("AssertionError: length normalization needs the rec step info, which exists "
                         "only inside a loop (set length_normalization: False)")
    return out


@_rule
def _non_search_choice_in_loop(an: _Analyzer) -> dict[str, str]:
    """A ``search: False`` choice in a searching loop adds its scores to the source's beam: without
    a beamed source, or with another beam size, RETURNN falls back to reading its target."""
    out = {}
    for node in an.order:
        data = an.nd[node]
        if data["class"] != "choice" or an.rec_of(node) is None or not an.search \
                or an.is_search_choice(node) or data["options"].get("input_type") == "regression":
            continue
        first = next((an.input_beam(s, f, node) for s, o, f in an.inputs(node) if o == "from"), None)
        size = int(data["options"].get("beam_size", 1) or 1)
        target = data["options"].get("target")
        target = target[0] if isinstance(target, list) and target else target
        if first is None or first.size != size:
            why = "no beamed source" if first is None else f"beam size {size} != source's {first.size}"
            out[node] = (f"LayerNotFound: layer {target!r} not found ({why}: the choice falls back to "
                         "its target, which search does not provide)")
    return out


@_rule
def _hash_keys_in_units(an: _Analyzer) -> dict[str, str]:
    """``#`` keys are only skipped at the top level; inside a rec unit a non-dict value breaks the
    template construction."""
    out = {}
    for node in an.order:
        unit = an.nd[node]["options"].get("unit") if an.nd[node]["class"] == "rec" else None
        unit = an.spec_unit(node) if unit is None else unit
        if isinstance(unit, dict):
            bad = [k for k, v in unit.items() if isinstance(k, str) and k.startswith("#")
                   and not isinstance(v, dict)]
            if bad:
                out[node] = (f"AttributeError: {type(unit[bad[0]]).__name__!r} object has no "
                             f"attribute 'get' (the key {bad[0]!r} in the rec unit is read as a layer)")
    return out


@_rule
def _lazy_branches(an: _Analyzer) -> dict[str, str]:
    """``cond`` branches and a ``masked_computation``'s mask are not among the layer's dependencies
    for the search choices, so a beam that only comes through them is found by the template but not
    by ``get_search_choices``: "has buggy search choices resolution"."""
    out = {}
    for node in an.order:
        data = an.nd[node]
        if an.rec_of(node) is None or data["class"] not in ("cond", "masked_computation"):
            continue
        lazy = ("true_layer", "false_layer") if data["class"] == "cond" else ("mask",)
        ins = an.inputs(node)
        via_lazy = [s for s, o, f in ins if o.split(".")[0] in lazy and an.input_beam(s, f, node)]
        direct = [s for s, o, f in ins if o.split(".")[0] not in lazy + ("condition",)
                  and an.input_beam(s, f, node)]
        if via_lazy and not direct:
            out[node] = (f"AssertionError: {node} has buggy search choices resolution: its beam "
                         f"comes only through {via_lazy[0]} ({'/'.join(lazy)}), which the search "
                         "choice lookup does not follow")
    return out


@_rule
def _loop_layer_read_from_outside(an: _Analyzer) -> dict[str, str]:
    """``rec/x`` from outside the loop exists only if x is moved out or an output layer."""
    out = {}
    for node in an.order:
        rec = an.rec_of(node)
        if rec is None or an.nd[node]["unit"] != rec or an.placement.get(node) != "loop":
            continue
        if an.nd[node]["options"].get("is_output_layer") or an.nd[node]["local"] == "output":
            continue
        readers = [v for _, v, d in an.g.out_edges(node, data=True) if d["kind"] == "sub"
                   and rec not in an._recs_of(v) and v != rec]
        if readers:
            out[node] = (f"Exception: Cannot get layer {an.nd[node]['local']!r} from outside "
                         f"({readers[0]}), because it is only available inside the recurrent loop. "
                         "Add 'is_output_layer': True to the layer.")
    return out


@_rule
def _data_read_in_loop(an: _Analyzer) -> dict[str, str]:
    """In search, ``data:<key>`` inside a loop that does not run over that data is the whole
    sequence, not a frame: the extra time axis reaches the choice, which asserts its input shape."""
    out = {}
    for node in an.order:
        rec = an.rec_of(node)
        if rec is None or not an.is_search_choice(node):
            continue
        reader = _frame_ancestor_reading_data(an, node, rec, set())
        if reader:
            out[node] = (f"AssertionError: the choice's input has an extra time axis: {reader} reads "
                         "extern data inside the loop, which search does not slice per frame")
    return out


def _frame_ancestor_reading_data(an: _Analyzer, node: str, rec: str, seen: set[str]) -> str | None:
    if node in seen:
        return None
    seen.add(node)
    for src, _, form, _ in an.nd[node].get("inputs", []):
        if form == "data" and an.nd[src]["node_kind"] == "data" and \
                an.g.edges[src, node]["ref"] not in ("data", "data:source"):
            return node
        if form != "prev" and an.rec_of(src) == rec and an.placement.get(src) in ("loop", "input"):
            found = _frame_ancestor_reading_data(an, src, rec, seen)
            if found:
                return found
    return None
