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


#: errors RETURNN raises while making output templates (transform_config_dict, get_out_data_from_opts,
#: the rec unit's template construction): they come before it decides a layer is a
#: DataNotAvailableLayer, so they happen in never-built parts of the network too
_TEMPLATE_TIME = frozenset({"SG102", "SG105", "SG113", "SG117"})


def raised_by_templates(failure: Failure, *, template_error: bool = False) -> bool:
    """Whether RETURNN raises ``failure`` already while making output templates (``template_error``:
    an SG101 found by the template pass)."""
    if failure.code == "SG101":
        return template_error
    if failure.code == "SG103":  # missing from/target are read in transform_config_dict
        return "explicitly" in failure.message or "must do search" in failure.message
    # layer names (targets included) are looked up in transform_config_dict
    return failure.code in _TEMPLATE_TIME or failure.message.startswith("LayerNotFound")


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
       "{layer} is a choice whose options RETURNN rejects in search mode (missing 'from' or 'target', search: False without a target, search: False with length normalisation, or a regression choice with a beam size other than 1, several sources or cheating).",
       "Give the choice 'from' and 'target' explicitly (target: None to search without one); with search: False also set length_normalization: False; a regression choice takes one source and beam_size 1.")
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
        elif opts.get("search") is False and not opts.get("target"):
            # ChoiceLayer.get_out_data_from_opts: without a target the output comes from the search
            out[node] = f"AssertionError: ChoiceLayer {data['local']!r}: no target given, must do search"
        elif opts.get("search") is False and an.search and an.beam.get(node) is not None \
                and opts.get("length_normalization", True):
            out[node] = ("AssertionError: a choice with search=False in a search network adds its "
                         "scores to the beam (add_to_beam_scores), which requires "
                         "length_normalization=False")
        elif opts.get("input_type") == "regression" and an.is_search_choice(node):
            # ChoiceLayer.__init__, regression branch: one source, beam size 1, no cheating
            sources = opts["from"] if isinstance(opts["from"], (list, tuple)) else [opts["from"]]
            src = next(((s, f) for s, o, f in an.inputs(node) if o == "from"), None)
            first = an.input_beam(src[0], src[1], node) if src is not None else None
            why = (f"beam_size {opts.get('beam_size')} != 1" if opts.get("beam_size", 1) != 1 else
                   f"{len(sources)} sources != 1" if len(sources) != 1 else
                   "cheating" if opts.get("cheating") else
                   f"its source is on beam {first} (size {first.size} != 1)" if first is not None
                   and first.size != 1 else None)
            if why:
                out[node] = f"AssertionError: (ChoiceLayer with input_type 'regression' in search: {why})"
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
            # RecLayer.get_out_data_from_opts already needs the loop's length, which only 'end'
            # gives here; the rec cell's own check ("You need to have an 'end' layer in your rec
            # subnet.") comes later
            out[node] = ("AttributeError: 'NoneType' object has no attribute 'copy_template_set_ctx' "
                         "(the loop's time axis has no length: You need to have an 'end' layer in "
                         "your rec subnet.)")
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
        decided = [s for s, _, _ in ins if get_layer_class(an.nd[s]["class"]).beam_role ==
                   "decide" and any(an.beam.get(p) for p, _, _, _ in an.nd[s].get("inputs", []))]
        if not decided:
            continue
        # a searching choice in a loop without beamed sources also depends on its own previous
        # frame (PR #1213): its decided sources are translated into that beam
        own_prev = an.is_search_choice(node) and an.rec_of(node) is not None and \
            all(an.input_beam(s, f, node) is None for s, _, f in ins)
        if len(ins) < 2 and not own_prev:
            continue
        beamed = [(s, an.input_beam(s, f, node)) for s, _, f in ins if an.input_beam(s, f, node) is not None]
        if own_prev and an.input_beam(node, "prev", node) is not None:
            beamed.append((f"prev:{an.nd[node]['local']}", an.input_beam(node, "prev", node)))
        if decided and beamed:
            out[node] = (f"AssertionError: {node}: No common search base:\nfrom layer {decided[0]}, "
                         f"search choices decided,\nto layer {beamed[0][0]}, search choices "
                         f"{beamed[0][1]}.")
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
        target = opts.get("target")
        target = target[0] if isinstance(target, list) and target else target
        ext = (an.spec.extern_data or {}).get(target) if isinstance(target, str) else None
        if isinstance(ext, dict):
            return bool(ext.get("sparse") or ext.get("sparse_dim"))
        return opts.get("input_type") != "regression"  # regression: the dense frames it predicts
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
        # a choice read as prev: only by itself (PR #1213, explicit_search_source) starts from 0
        own = data["class"] == "choice"
        read_prev = any((d["kind"] == "prev" or "prev" in d["kinds"]) and not (own and v == node)
                        for v, d in an.g._succ[node].items())
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
    out: dict[str, str] = {}
    units = {b.name.rpartition("/")[0] for b in an.beam.values() if b is not None}
    if len(units) < 2:  # every beam is chosen in one unit: a loop's beams are all its own or all foreign
        return out
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
        elif data["options"].get("length_normalization", True) and \
                data["options"].get("input_type") != "regression":  # regression: no scores to normalise
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
        if an.nd[node]["class"] not in ("rec", "subnetwork"):
            continue  # only these hold a unit dict
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
        readers = [v for v, d in an.g._succ[node].items() if d["kind"] == "sub"
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


def _one_frame_of_loop_input(an: _Analyzer, reader: str, rec: str, data_node: str) -> bool:
    """Whether ``reader`` gets one frame of the extern data ``data_node`` it reads by name: it is moved
    out in front of ``rec``'s loop, which iterates over that data (then it is sliced per frame, like
    ``data:source``; a layer kept in the loop finds no value for it in search)."""
    return an.placement.get(reader) == "input" and data_node in an._loop_sources(rec)


def _frame_ancestor_reading_data(an: _Analyzer, node: str, rec: str, seen: set[str]) -> str | None:
    if node in seen:
        return None
    seen.add(node)
    for src, _, form, _ in an.nd[node].get("inputs", []):
        if form == "data" and an.nd[src]["node_kind"] == "data" and \
                an.g.edges[src, node]["ref"] not in ("data", "data:source") and \
                not _one_frame_of_loop_input(an, node, rec, src):
            return node
        if form != "prev" and an.rec_of(src) == rec and an.placement.get(src) in ("loop", "input"):
            found = _frame_ancestor_reading_data(an, src, rec, seen)
            if found:
                return found
    return None


# ----------------------------------------------------------------------------------------------------
# A small shape model: just enough to see what RETURNN's ChoiceLayer asserts about its first source
# in search (``rec.py`` ``ChoiceLayer.__init__``: not sparse, ``dim == output.dim``, ``shape ==
# (dim,)``). Every answer is True / False / a number when the network says so, None when unsure;
# rules only fire on sure answers.

#: Classes whose output keeps every axis of their sources (RETURNN's ``get_out_data_from_opts``
#: copies the source template and at most replaces the feature dim).
_KEEP_AXES = frozenset({"linear", "copy", "softmax", "activation", "combine", "dropout", "layer_norm",
                        "slice_nd", "compare", "self_attention", "softmax_over_spatial", "reinterpret_data"})
#: Classes whose feature dim is their first source's.
_KEEP_DIM = frozenset({"copy", "activation", "combine", "dropout", "layer_norm", "compare",
                       "softmax_over_spatial"})


def _keeps(cls: str, opts: dict[str, object], kinds: frozenset[str]) -> bool:
    """Whether a layer of class ``cls`` keeps its first source's axes (or dim): ``kinds``, and a
    ``positional_encoding`` added to its input."""
    return cls in kinds or (cls == "positional_encoding" and bool(opts.get("add_to_input")))


_TIME_AXES = ("t", "time", "T", "stag:time")


def _extern(an: _Analyzer, key: str) -> dict[str, object] | None:
    """The extern-data declaration of ``key`` as ``{dim, sparse, time}`` (None if undeclared)."""
    ext = (an.spec.extern_data or {}).get(key)
    if isinstance(ext, dict) and isinstance(ext.get("dims"), list):  # Dim-based declaration
        dims = [d.get("__dim__", {}) if isinstance(d, dict) else {} for d in ext["dims"]]
        sparse_dim = ext.get("sparse_dim")
        sparse_dim = sparse_dim.get("__dim__", {}) if isinstance(sparse_dim, dict) else None
        feat = sparse_dim if sparse_dim is not None else (dims[-1] if dims else {})
        dim = feat.get("dimension") if feat.get("kind") == "feature" else None
        return {"dim": dim if isinstance(dim, int) else None, "sparse": sparse_dim is not None,
                "time": any(d.get("kind") == "spatial" for d in dims)}
    if isinstance(ext, dict):
        dim = ext.get("dim")
        sparse = bool(ext.get("sparse") or ext.get("sparse_dim"))
        shape = ext.get("shape")
        time = not (ext.get("time_dim_axis", 1) is None or
                    (isinstance(shape, (list, tuple)) and None not in shape))
        return {"dim": dim if isinstance(dim, int) else None, "sparse": sparse, "time": time}
    num = (an.spec.num_outputs or {}).get(key)
    if isinstance(num, (list, tuple)) and num and isinstance(num[0], int):
        return {"dim": num[0], "sparse": len(num) > 1 and num[1] == 1, "time": True}
    if isinstance(num, int):
        return {"dim": num, "sparse": False, "time": True}
    return None


def _target_dim(an: _Analyzer, node: str) -> int | None:
    target = an.nd[node]["options"].get("target")
    target = target[0] if isinstance(target, list) and target else target
    if not isinstance(target, str) or target.startswith("layer:"):
        return None
    ext = _extern(an, target.removeprefix("data:"))
    return ext["dim"] if ext else None  # type: ignore[return-value]


def _sources(an: _Analyzer, node: str) -> list[tuple[str, str]]:
    """(source, form) of the layer's ``from``, in order."""
    return [(s, f) for s, o, f, _ in an.nd[node].get("inputs", []) if o == "from"]


def _dim(an: _Analyzer, node: str, seen: frozenset[str] = frozenset()) -> int | None:
    """The feature dim (for sparse data: the vocabulary size) of a layer's output, if certain."""
    data = an.nd[node]
    if node in seen or data["node_kind"] == "missing":
        return None
    if data["node_kind"] == "data":
        ext = _extern(an, node[len("data:"):])
        return ext["dim"] if ext else None  # type: ignore[return-value]
    if data["node_kind"] != "layer":
        return None
    cls, opts = data["class"], data["options"]
    srcs = _sources(an, node)
    if cls == "choice":
        return _target_dim(an, node) if opts.get("target") else None
    if cls in ("linear", "softmax", "self_attention"):
        if isinstance(opts.get("n_out"), int):
            return int(opts["n_out"])
        if "n_out" not in opts and "out_dim" not in opts and opts.get("target"):
            return _target_dim(an, node)
        return None
    if _keeps(cls, opts, _KEEP_DIM) and srcs and "n_out" not in opts and "out_dim" not in opts:
        return _dim(an, srcs[0][0], seen | {node})
    axes = opts.get("axes", opts.get("axis"))
    if cls == "reduce" and srcs and axes and all(a in _TIME_AXES for a in (
            axes if isinstance(axes, (list, tuple)) else [axes])):  # over time: the feature dim stays
        return _dim(an, srcs[0][0], seen | {node})
    return None


def _sparse(an: _Analyzer, node: str, seen: frozenset[str] = frozenset()) -> bool | None:
    data = an.nd[node]
    if node in seen or data["node_kind"] == "missing":
        return None
    if data["node_kind"] == "data":
        ext = _extern(an, node[len("data:"):])
        return bool(ext["sparse"]) if ext else None
    if data["node_kind"] != "layer":
        return None
    cls = data["class"]
    if cls == "choice":
        return data["options"].get("input_type") != "regression"
    if cls in ("linear", "softmax", "self_attention", "combine", "activation", "layer_norm"):
        return False
    srcs = _sources(an, node)
    if cls in ("copy", "dropout") and srcs:
        return _sparse(an, srcs[0][0], seen | {node})
    return None


def _or(values: list[bool | None]) -> bool | None:
    """True if any is True, else None if any is unknown, else False."""
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


_MISSING, _IN_PROGRESS = object(), object()


def _memo(an: _Analyzer, key: tuple[str, ...], default: object, compute: Callable[[], object]) -> object:
    """``compute()`` once per analysis and key; ``default`` while it is being computed (a cycle).
    The shape model walks every path through residual connections, so it must not recompute."""
    cache: dict[tuple[str, ...], object] = an.__dict__.setdefault("_shape_memo", {})
    got = cache.get(key, _MISSING)
    if got is _IN_PROGRESS:
        return default
    if got is not _MISSING:
        return got
    cache[key] = _IN_PROGRESS
    try:
        value = compute()
    except BaseException:
        del cache[key]
        raise
    cache[key] = value
    return value


def _data_tag(an: _Analyzer, key: str) -> str | None:
    """The time axis of extern data ``key``: a tag naming it, "" for none, None if unsure."""
    ext = _extern(an, key)
    if ext is None:
        return None
    if not ext["time"]:
        return ""
    decl = (an.spec.extern_data or {}).get(key)
    if isinstance(decl, dict) and isinstance(decl.get("dims"), list):
        spatial = [d["__dim__"].get("description") for d in decl["dims"]
                   if isinstance(d, dict) and isinstance(d.get("__dim__"), dict)
                   and d["__dim__"].get("kind") == "spatial"]
        return f"dim:{spatial[0]}" if len(spatial) == 1 else None
    return f"data:{key}"


def _same(tags: list[str | None]) -> str | None:
    """The one time axis several sources share ("" when none has one), None if unsure or mixed."""
    if any(t is None for t in tags):
        return None
    found = {t for t in tags if t}
    return found.pop() if len(found) == 1 else ("" if not found else None)


def _root_tag(an: _Analyzer, node: str, seen: frozenset[str] = frozenset()) -> str | None:
    """Memoised :func:`_root_tag_impl` (per analysis; a cycle gives None)."""
    value = _memo(an, ("root", node), None, lambda: _root_tag_impl(an, node, seen))
    return value  # type: ignore[return-value]


def _root_tag_impl(an: _Analyzer, node: str, seen: frozenset[str] = frozenset()) -> str | None:
    """The time axis of a layer outside any loop (as ``base:`` hands it into a loop): a tag, ""
    for none, None when unsure."""
    data = an.nd[node]
    if node in seen or data["node_kind"] == "missing":
        return None
    if data["node_kind"] == "data":
        return _data_tag(an, node[len("data:"):])
    if data["node_kind"] != "layer" or an.rec_of(node) is not None:
        return None
    cls, opts = data["class"], data["options"]
    srcs = _sources(an, node)
    if cls == "rec":
        return _rec_tag(an, node, seen | {node}) if isinstance(opts.get("unit"), dict) or srcs else None
    if cls == "reduce":
        axis = opts.get("axis", opts.get("axes"))
        axes = axis if isinstance(axis, list) else [axis]
        return "" if any(a in _TIME_AXES for a in axes) else None
    if cls == "get_last_hidden_state":
        return ""
    if _keeps(cls, opts, _KEEP_AXES) and srcs:
        return _same([_root_tag(an, s, seen | {node}) if f in ("from", "data") else None for s, f in srcs])
    return None


def _rec_tag(an: _Analyzer, rec: str, seen: frozenset[str] = frozenset()) -> str | None:
    """The time axis a rec loop iterates over: its input's, or its own when it has none."""
    srcs = _sources(an, rec)
    if not srcs:
        return f"rec:{rec}"
    return _same([_root_tag(an, s, seen) if f in ("from", "data") else None for s, f in srcs]) or None


def _root_time(an: _Analyzer, node: str) -> bool | None:
    """Whether a layer outside any loop has a time axis."""
    tag = _root_tag(an, node)
    return None if tag is None else bool(tag)


def _outer_tag(an: _Analyzer, node: str, rec: str, seen: frozenset[str]) -> str | None:
    """Memoised :func:`_outer_tag_impl` (per analysis; a cycle gives None)."""
    value = _memo(an, ("outer", node, rec), None, lambda: _outer_tag_impl(an, node, rec, seen))
    return value  # type: ignore[return-value]


def _outer_tag_impl(an: _Analyzer, node: str, rec: str, seen: frozenset[str]) -> str | None:
    """The time axis of a loop layer moved out in front of the loop (computed over all frames at
    once, in RETURNN's ``input_layers_net``)."""
    data = an.nd[node]
    if node in seen or data["node_kind"] != "layer" or data["unit"] != rec:
        return None
    srcs = _sources(an, node)
    if not _keeps(data["class"], data["options"], _KEEP_AXES) or not srcs:
        return None
    tags: list[str | None] = []
    for src, form in srcs:
        sdata = an.nd[src]
        if form == "base":
            tags.append(_root_tag(an, src))
        elif form == "data" and sdata["node_kind"] == "data":
            ref = an.g.edges[src, node]["ref"]
            tags.append(_rec_tag(an, rec) if ref in ("data", "data:source") else
                        _data_tag(an, src[len("data:"):]))
        elif form in ("from", "prev") and an.placement.get(src) == "input":
            tags.append(_outer_tag(an, src, rec, seen | {node}))
        else:
            tags.append(None)
    return _same(tags)


def _frame_time(an: _Analyzer, node: str, rec: str, seen: frozenset[str] = frozenset()) -> bool | None:
    """Memoised :func:`_frame_time_impl` (per analysis; a cycle gives False)."""
    value = _memo(an, ("frame", node, rec), False, lambda: _frame_time_impl(an, node, rec, seen))
    return value  # type: ignore[return-value]


def _frame_time_impl(an: _Analyzer, node: str, rec: str, seen: frozenset[str] = frozenset()) -> bool | None:
    """Whether a loop layer's frame value carries an extra time axis: the whole sequence of a
    ``base:`` layer or of extern data read inside the loop, kept by the layers in between. A layer
    moved out in front of the loop is sliced per frame only when its time axis is the loop's
    (``_SubnetworkRecCell.get_input_moved_out``); otherwise the loop gets it whole."""
    data = an.nd[node]
    if node in seen:
        return False  # a prev: cycle adds nothing of its own
    if data["node_kind"] != "layer" or an.rec_of(node) != rec:
        return None
    where = an.placement.get(node)
    if data["class"] == "subnetwork" and where == "loop":  # its value is its own 'output' layer
        inner = f"{node}/output"
        return _frame_time(an, inner, rec, seen | {node}) if inner in an.nd else None
    if where == "input" and data["unit"] == rec:
        tag, own = _outer_tag(an, node, rec, frozenset()), _rec_tag(an, rec)
        if tag is None:
            return None
        return bool(tag) and own is not None and tag != own
    if where != "loop":
        return None
    srcs = _sources(an, node)
    if not _keeps(data["class"], data["options"], _KEEP_AXES) or not srcs:
        return None
    return _or([_read_time(an, src, form, node, rec, seen | {node}) for src, form in srcs])


def _read_time(an: _Analyzer, src: str, form: str, node: str, rec: str,
               seen: frozenset[str] = frozenset()) -> bool | None:
    """Whether ``node`` (in ``rec``'s loop) receives ``src`` with an extra time axis."""
    if form in ("base", "data") and an.nd[src]["node_kind"] == "layer" and an.rec_of(src) == rec:
        return _frame_time(an, src, rec, seen)  # a subnetwork's input or its loop's layer
    if form == "base":
        return _root_time(an, src)
    if form == "data" and an.nd[src]["node_kind"] == "data":
        if an.g.edges[src, node]["ref"] in ("data", "data:source") or \
                _one_frame_of_loop_input(an, node, rec, src):
            return False  # the loop's own input: one frame
        return _root_time(an, src)
    if form in ("from", "prev"):
        return _frame_time(an, src, rec, seen)
    return None


@_rule('SG118', "choice input does not fit the choice",
       "In search, RETURNN's ChoiceLayer asserts that its first source holds scores over the target's "
       "vocabulary: not sparse, one feature axis of the target's dim and no other axis, and for "
       "input_type 'prob' a tensor it can take the log of; {layer}'s first source is sparse, has another "
       "dim, carries a whole sequence read into the loop, or is a prev: value scored as 'prob'.",
       "Feed {layer} a softmax / log-softmax over the target vocabulary computed in the frame "
       "(n_out = the target's dim); read sequences from outside the loop only through attention; "
       "to score a prev: value, make it log-probabilities and set input_type 'log_prob'.")
def _choice_input_shape(an: _Analyzer) -> dict[str, str]:
    """``ChoiceLayer.__init__`` in search: ``not source.output.sparse``, ``sources[0].output.dim ==
    output.dim`` (the target's dim) and ``sources[0].output.shape == (dim,)``."""
    out = {}
    if not an.search:
        return out
    for node in an.order:
        data = an.nd[node]
        if data["class"] != "choice" or not an.is_search_choice(node) \
                or data["options"].get("input_type") == "regression":
            continue
        srcs = _sources(an, node)
        if not srcs:
            continue
        src = srcs[0][0]
        rec = an.rec_of(node)
        why = None
        if any(_sparse(an, s) is True for s, _ in srcs):
            bad = next(s for s, _ in srcs if _sparse(an, s) is True)
            why = f"{bad} is sparse (labels, not scores)"
        elif rec is not None and srcs[0][1] == "prev" and data["options"].get("input_type", "prob") == "prob":
            # safe_log -> check_base_op_type_and_replace asserts its tensor is its op's first output;
            # a prev: value is one of the loop's state tensors
            why = f"prev:{an.nd[src]['local']} is a loop state, not a softmax whose log can be taken"
        elif rec is not None and an.placement.get(node) == "loop" and any(
                _read_time(an, s, f, node, rec) for s, f in srcs):
            bad = next(s for s, f in srcs if _read_time(an, s, f, node, rec))
            why = f"{bad} has an extra time axis (a whole sequence read into the loop)"
        else:
            want, have = _target_dim(an, node), _dim(an, src)
            if data["options"].get("target") and want is not None and have is not None and want != have:
                why = f"{src} has feature dim {have}, the target {data['options']['target']!r} has {want}"
        if why:
            out[node] = f"AssertionError: (ChoiceLayer in search: {why})"
    return out


def _resolved_layers(an: _Analyzer, rec: str) -> list[str]:
    """Loop layers whose per-frame values RETURNN accumulates and backtracks after the loop
    (``get_loop_acc_layer``): ``output``, output layers, and what is read from outside the loop."""
    out = []
    for node in an.children.get(rec, ()):
        data = an.nd[node]
        if an.placement.get(node) != "loop" or data["node_kind"] != "layer":
            continue
        if data["local"] == "output" or data["options"].get("is_output_layer") or any(
                an._outside(v, rec) or an.placement.get(v) == "output"
                for v in an.g._succ[node] if v in an.built):
            out.append(node)
    return out


def _frame_choices(an: _Analyzer, owner: str) -> tuple[str | None, list[str]]:
    """(the choice whose previous frame ``owner``'s choices start from, ``owner``'s in-frame choice
    chain): ``_SubnetworkRecCell._get_search_choice_seq``'s ``get_choice_seq``."""
    chosen = an.chosen.get(owner)
    if chosen is None:
        return None, []
    seq = []
    for beam in chosen.walk():
        if beam.is_prev_frame:
            return beam.name.replace("prev:", "", 1), seq
        seq.append(beam.name)
    return None, seq


@_rule('SG119', "output on a choice off the frame's latest choice chain",
       "{layer} backtracks its outputs along the frame's latest choice and its chain of earlier choices; "
       "an output layer of the loop depends on a choice that is not on that chain (a second, independent "
       "choice of the frame), so RETURNN cannot resolve it over time (_get_search_choice_seq).",
       "Chain the extra choice into the frame (compute the main choice's scores from it), or keep it "
       "out of the outputs: no 'is_output_layer' and no reads from outside the loop.")
def _choice_off_chain(an: _Analyzer) -> dict[str, str]:
    """After the loop, ``_opt_search_resolve`` finds each accumulated layer's choice, walks back to
    the previous frame's choice ``prev:L`` and asserts the layer's choice is on ``L``'s in-frame
    chain (``assert layer_choice in choice_seq_in_frame``)."""
    out: dict[str, str] = {}
    if not an.search:
        return out
    for rec in an.order:
        if an.nd[rec]["class"] != "rec" or rec not in an.latest:
            continue
        for node in _resolved_layers(an, rec):
            chosen = an.chosen.get(node)
            if chosen is None:
                continue
            owner = chosen.name.replace("prev:", "", 1)
            if owner not in an.nd or an.rec_of(owner) != rec or an.nd[owner]["unit"] != rec \
                    or an.nd[owner]["class"] == "decide_keep_beam":
                continue
            latest, _ = _frame_choices(an, owner)
            if latest is None or latest == owner or latest not in an.nd:
                continue
            back, seq = _frame_choices(an, latest)
            if back == latest and owner not in seq:
                out[rec] = (f"AssertionError: (_get_search_choice_seq: {node}'s choice {owner} is not on "
                            f"the frame's choice chain {seq} of the latest choice {latest})")
                break
    return out


@_rule('SG120', "decide or split_batch_beam inside the search loop",
       "{layer} is a 'decide' / 'split_batch_beam' layer that stays inside the loop in search; RETURNN "
       "asks every choice-like layer of the loop for its initial beam state, which these layers cannot "
       "give (BaseChoiceLayer.get_rec_initial_extra_outputs needs a beam_size).",
       "Decide after the loop (a root 'decide' on the rec layer's output), not inside it.")
def _decide_in_loop(an: _Analyzer) -> dict[str, str]:
    """``_SubnetworkRecCell.get_init_loop_vars`` calls ``get_rec_initial_extra_outputs`` of every
    layer left in the loop; ``DecideLayer`` and ``SplitBatchBeamLayer`` inherit
    ``BaseChoiceLayer``'s, which requires a ``beam_size`` option they do not have."""
    out: dict[str, str] = {}
    if not an.search:
        return out
    for node in an.order:
        data = an.nd[node]
        rec = an.rec_of(node)
        if data["class"] not in ("decide", "split_batch_beam") or rec is None or data["unit"] != rec \
                or an.placement.get(node) != "loop" or "beam_size" in data["options"]:
            continue
        out.setdefault(rec, "TypeError: BaseChoiceLayer.get_rec_initial_extra_outputs() missing 1 "
                            f"required positional argument: 'beam_size' (from {node})")
    return out


@_rule('SG121', "beam-reading layer without a beam",
       "{layer} reads the beam itself (its scores, source beams, or splits it off the batch), but its "
       "input carries no beam in search (e.g. it was decided before).",
       "Feed {layer} the beamed layer (before any 'decide').")
def _beam_reader_without_beam(an: _Analyzer) -> dict[str, str]:
    """``choice_get_beam_scores`` / ``choice_get_src_beams`` assert their source has search choices
    and ``split_batch_beam`` asserts a beam (``rec.py``)."""
    out: dict[str, str] = {}
    if not an.search:
        return out
    for node in an.order:
        data = an.nd[node]
        if data["class"] not in ("choice_get_beam_scores", "choice_get_src_beams", "split_batch_beam"):
            continue
        srcs = [(s, f) for s, o, f in an.inputs(node) if o == "from"]
        if len(srcs) != 1 or an.nd[srcs[0][0]]["node_kind"] != "layer":
            continue
        if an.input_beam(srcs[0][0], srcs[0][1], node) is None:
            what = "no beam" if data["class"] == "split_batch_beam" else "no search choices"
            out[node] = f"AssertionError: {node}: source {srcs[0][0]} has {what}"
    return out


@_rule('SG122', "decide on raw beam scores from inside a loop",
       "{layer} decides a loop output whose search choices were kept raw by a 'decide_keep_beam' in the "
       "loop; DecideLayer takes the argmax over those choices' beam scores, a tensor of the loop body, "
       "which TensorFlow does not allow outside the loop.",
       "Decide the rec layer's output (or a loop output without decide_keep_beam) instead; keep raw "
       "values only for dumping.")
def _decide_raw_loop_beam(an: _Analyzer) -> dict[str, str]:
    """``DecideLayer.decide`` reads ``src.get_search_choices().beam_scores``; the search choices of a
    ``decide_keep_beam`` in a loop are ``keep_raw`` and never resolved after the loop
    (``_opt_search_resolve``), so their scores are the loop body's tensor."""
    out: dict[str, str] = {}
    if not an.search:
        return out
    for node in an.order:
        if an.nd[node]["class"] != "decide" or an.rec_of(node) is not None:
            continue
        for src, opt, form in an.inputs(node):
            beam = an.input_choice(src, form, node) if opt == "from" else None
            owner = beam.name.replace("prev:", "", 1) if beam is not None else None
            if owner in an.nd and an.nd[owner]["class"] == "decide_keep_beam" \
                    and an.rec_of(owner) is not None:
                out[node] = (f"ValueError: Cannot use the beam scores of {owner} (inside the loop's while "
                             f"body) as input to {node}'s ArgMax outside the loop")
                break
    return out


@_rule('SG123', "loop output on a beam its length is not known for",
       "The loop {layer} gets its length per hypothesis from its 'end' layer, but its unit 'output' is on "
       "another beam that cannot be reached from the end layer's beam (typically: 'output' is computed from "
       "previous-frame values only, while 'end' reads this frame's choice), so RETURNN does not know the "
       "time axis' size for it.",
       "Compute the unit 'output' and 'end' from the same choice (usually 'output' is the choice and 'end' "
       "compares it with EOS).")
def _rec_output_beam_without_length(an: _Analyzer) -> dict[str, str]:
    """``RecLayer.get_out_data_from_opts`` tags the loop's dynamic time dim with the unit ``output``
    template's beam; its size exists for the ``end`` layer's beam and what is selected from it (the
    beams chosen from it), so an ``output`` beam whose chain does not hold ``end``'s fails the
    template's ``sanity_check`` ("dynamic dim ... value unknown")."""
    out: dict[str, str] = {}
    if not an.search or an.template_beams is None:
        return out
    for rec, beam in an.rec_outer.items():
        if beam is None or rec not in an.built or an.known_length(rec):
            continue
        end = next((m for m in an.children.get(rec, ()) if an.nd[m]["local"] == "end"), None)
        end_beam = an.template_beams.get(end) if end is not None else None
        if end_beam is not None and end_beam.name not in beam.chain_key:
            out[rec] = (f"AssertionError: Tensor{{'{an.nd[rec]['local']}_output', ...}} sanity_check: "
                        f"dynamic dim Dim{{'dyn-time:{rec}'[B&Beam{{'{beam.name}'}}({beam.size})]}} value "
                        f"unknown (the loop's length is known on {end_beam.name}, its end layer's beam)")
    return out
