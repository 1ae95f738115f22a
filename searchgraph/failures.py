"""The errors RETURNN raises while building a network in search mode, predicted per layer.

Each rule names the layer RETURNN is constructing when it raises and RETURNN's own message (spec
§8), prefixed with the exception type as RETURNN reports it. Rules read the provenance analyzer's
state (beams, placements, latest choices); they never raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .layers import get_layer_class

if TYPE_CHECKING:  # pragma: no cover
    from .provenance import _Analyzer

__all__ = ["Failure", "predict_errors", "predict_failures", "rule_codes"]

Rule = Callable[["_Analyzer"], dict[str, str]]


@dataclass(frozen=True)
class Failure:
    """A predicted RETURNN error on one layer: a stable code, RETURNN's message, why, and a fix."""

    code: str
    layer: str
    message: str
    title: str
    reason: str
    fix: str
    traces: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class _RuleSpec:
    code: str
    title: str
    reason: str
    fix: str
    fn: Rule


_RULES: list[_RuleSpec] = []


def _rule(code: str, title: str, reason: str, fix: str) -> Callable[[Rule], Rule]:
    """Register a rule; ``reason`` and ``fix`` may use ``{layer}`` and ``{local}``."""
    def register(fn: Rule) -> Rule:
        _RULES.append(_RuleSpec(code, title, reason, fix, fn))
        return fn
    return register


def rule_codes() -> dict[str, str]:
    """Every error code with its title (for documentation and the CLI)."""
    return {r.code: r.title for r in _RULES}


def predict_failures(an: _Analyzer) -> dict[str, Failure]:
    """Layer name -> predicted failure; the first rule that fires on a layer wins."""
    out: dict[str, Failure] = {}
    for spec in _RULES:
        for layer, message in spec.fn(an).items():
            if layer in out:
                continue
            local = layer.rsplit("/", 1)[-1]
            out[layer] = Failure(spec.code, layer, message, spec.title,
                                 spec.reason.format(layer=layer, local=local),
                                 spec.fix.format(layer=layer, local=local))
    return out


def predict_errors(an: _Analyzer) -> dict[str, str]:
    """Layer name -> RETURNN's predicted error message."""
    return {layer: f.message for layer, f in predict_failures(an).items()}


@_rule('SG102', 'prev:prev: is not allowed',
       '{layer} reads a value two frames back; a rec loop only keeps the previous frame.',
       'Keep the older value in the loop yourself: a layer `x_prev` = copy of `prev:x`, then read `prev:x_prev`.')
def _prev_prev(an: _Analyzer) -> dict[str, str]:
    return {consumer: "AssertionError: Multiple 'prev:' prefixes are not allowed "
                      f"({ref!r}): only the previous frame can be accessed"
            for consumer, ref in an.g.graph.get("prev_prev", []) if consumer in an.built}


@_rule('SG103', 'choice layer misconfigured',
       "{layer} is a choice whose options RETURNN rejects in search mode (missing 'from' or 'target', or search: False with length normalisation).",
       "Give the choice 'from' and 'target' explicitly (target: None to search without one); with search: False also set length_normalization: False.")
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


@_rule('SG105', 'loop length undefined in search',
       "The loop {layer} has no input to iterate over, so in search its length comes from an 'end' layer and is bounded by 'max_seq_len'.",
       "Add an 'end' layer (e.g. compare of the choice with the EOS label) and 'max_seq_len' (e.g. max_len_from('base:encoder') * 3) to {layer}.")
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


@_rule('SG106', 'decided layer combined with a beamed one',
       "{layer} combines a 'decide' output (one hypothesis per sequence) with a layer still on a beam; RETURNN cannot select the decided value into that beam.",
       "Decide both inputs (add a 'decide' on the beamed one), or use the beamed value before the 'decide'.")
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


@_rule('SG107', 'end layer on an independent choice',
       "The loop's 'end' layer is computed on a choice that {layer} does not descend from, so its end flag cannot be selected into {layer}'s beam.",
       "Compute 'end' from the choice of the frame that the output's choices derive from (usually the output choice).")
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
            frame = {b.name.replace("prev:", "", 1) for b in chosen.walk()}
            if owner not in frame:
                out[node] = (f"AssertionError: <SelectSearchSourcesLayer 'prev:end'>: No common search "
                             f"base: the end layer's choice {owner} is independent of {node}'s "
                             f"choices {[b.name for b in chosen.walk()]}")
    return out


@_rule('SG108', 'moved-out layer combines beamed loop outputs',
       '{layer} is moved out of the loop and combines several inputs, one of them a beamed loop output; RETURNN attaches search choices to loop outputs only after building moved-out layers.',
       "Mark {layer} 'is_output_layer': True inside the loop or read it from outside, or set the rec layer's 'optimize_move_layers_out': False.")
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


@_rule('SG109', 'sparse prev: value without initial_output',
       '{layer} has sparse (label) output and is read as prev: in the first frame, which needs an explicit initial value.',
       "Set 'initial_output': 0 (or the BOS label) on {layer}.")
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


@_rule('SG110', "another search's beam inside the loop",
       "{layer} mixes this loop's beam with the still-beamed output of another search (another decoder), which RETURNN cannot relate.",
       "Add a 'decide' on the other decoder's output before this loop reads it, or run both in one loop.")
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


@_rule('SG111', 'choice outside a loop',
       '{layer} searches outside any rec loop: it needs a beamed input as its base choice and cannot use length normalisation there.',
       "Move the choice into a rec loop, or feed it from a beamed layer and set 'length_normalization': False.")
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


@_rule('SG112', 'search: False choice without a matching beam',
       '{layer} has search: False, so in a search network it only adds its scores to an existing beam of the same size; otherwise RETURNN falls back to its target, which search does not provide.',
       'Remove search: False, or make its source carry a beam of the same beam_size.')
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


@_rule('SG113', "'#' key inside a rec unit",
       "Keys starting with '#' are only skipped at the top level of a network; inside the rec unit of {layer} the value is read as a layer.",
       "Move the '#' entry to the top level of the network, or make its value a dict.")
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


@_rule('SG114', 'beam only through a lazily built branch',
       "{layer}'s beam comes only through its cond branches or masked_computation mask, which RETURNN's search-choice lookup does not follow ('has buggy search choices resolution').",
       "Also feed {layer} a layer on the same beam through 'from', or compute the branch outside the cond/mask.")
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


@_rule('SG115', 'loop layer read from outside',
       '{layer} stays inside the loop and is read from outside; only moved-out layers and output layers are available there.',
       "Add 'is_output_layer': True to {layer}.")
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


@_rule('SG116', 'extern data read inside the search loop',
       'Inside the loop, search does not slice this data per frame (trains fine, search breaks): {layer} gets the whole sequence.',
       "Do not read targets or extern data inside the decoder loop in search; use the choice's output instead.")
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
