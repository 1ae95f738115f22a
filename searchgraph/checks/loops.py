"""Checks: rec loops RETURNN cannot build or run in search (``_SubnetworkRecCell``, ``RecLayer``).

What a loop needs in search (a length: ``end`` and ``max_seq_len``; an initial value for a sparse
``prev:`` value), what its unit may hold (no ``#`` entries, no ``decide`` kept in the loop, ``prev:``
only one frame back), what is visible from outside, and on which beam its output's length is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..analysis.construction import Construction
from .registry import Raised, rule
from .shapes import Shapes


@rule('SG102', 'prev:prev: is not allowed',
      '{layer} reads a value two frames back; a rec loop only keeps the previous frame.',
      'Keep the older value in the loop yourself: a layer `x_prev` = copy of `prev:x`, then read '
      '`prev:x_prev`.')
def prev_prev(c: Construction) -> dict[str, str]:
    """``prev:prev:x``: the rec cell keeps one previous frame (the graph builder notes such reads)."""
    return {consumer: "AssertionError: Multiple 'prev:' prefixes are not allowed "
                      f"({ref!r}): only the previous frame can be accessed"
            for consumer, ref in c.graph.graph.get("prev_prev", []) if consumer in c.built}


@rule('SG105', 'loop length undefined in search',
      "In search the loop {layer} has no length known in advance (no input to iterate over, or an 'end' "
      "layer that ends it before its input does): its length comes from an 'end' layer and must be "
      "bounded by 'max_seq_len'.",
      "Add an 'end' layer (e.g. compare of the choice with the EOS label) and 'max_seq_len' (e.g. "
      "max_len_from('base:encoder') * 3) to {layer}.")
def loop_length(c: Construction) -> dict[str, str]:
    """A searching rec loop without input needs an ``end`` layer and ``max_seq_len``; so does a loop over
    an input that ends by an ``end`` layer (``_SubnetworkRecCell.get_output``: with ``end``, the input's
    length is no bound; only extern data the loop reads, a target read anyway or ``max_seq_len`` are,
    and the while-loop's ``cond`` asserts one is there)."""
    out = {}
    if not c.search:
        return out
    for node in c.order:
        data = c.nodes[node]
        unit = c.children(node)
        if data["class"] != "rec" or not unit:
            continue
        opts = data["options"]
        declared = c.known_length(node) or any(
            c.nodes[n]["class"] == "rec_unstack" and c.nodes[n]["options"].get("declare_rec_time")
            and c.rec_of(n) == node for n in c.members(node))  # in a subnetwork of the unit too
        has_input = bool(opts.get("from", ["data"]))
        locals_ = {c.nodes[n]["local"] for n in unit}
        if declared or (has_input and "end" not in locals_):
            continue  # the length is known (a target read anyway), or the input's
        if has_input and _reads_extern_data(c, node):
            continue  # extern data read in the loop bound it (``used_data_keys``: max_seq_len from its length)
        if "end" not in locals_:
            # RecLayer.get_out_data_from_opts already needs the loop's length, which only 'end'
            # gives here; the rec cell's own check ("You need to have an 'end' layer in your rec
            # subnet.") comes later
            out[node] = ("AttributeError: 'NoneType' object has no attribute 'copy_template_set_ctx' "
                         "(the loop's time axis has no length: You need to have an 'end' layer in "
                         "your rec subnet.)")
        elif opts.get("max_seq_len") is None and not opts.get("max_seq_len_via") \
                and node not in c.unavailable and node not in c.unbuilt:
            # ``max_seq_len_via``: a (scalar) layer gives the bound instead (``RecLayer.__init__``)
            # asserted when the loop is built (its while-loop condition), not by its template: a loop
            # RETURNN does not build (it reads data search has not) never gets there
            out[node] = f"AssertionError: <RecLayer {data['local']!r}>: specify max_seq_len"
    return out


@rule('SG109', 'sparse prev: value without initial_output',
      '{layer} has sparse (label) output and is read as prev: in the first frame, which needs an explicit '
      'initial value.',
      "Set 'initial_output': 0 (or the BOS label) on {layer}.")
def sparse_prev_without_initial_output(c: Construction) -> dict[str, str]:
    """The rec cell makes the first frame's ``prev:`` value from ``initial_output``; for sparse data
    there is no default."""
    out = {}
    shapes = c.derived(Shapes)
    for node in c.order:
        data = c.nodes[node]
        if c.rec_of(node) is None or data["unit_kind"] != "rec" or c.placement(node) != "loop":
            continue
        if data["options"].get("initial_output") is not None:
            continue
        # a choice read as prev: only by itself (PR #1213, explicit_search_source) starts from 0
        own = data["class"] == "choice"
        read_prev = any((d["kind"] == "prev" or "prev" in d["kinds"]) and not (own and v == node)
                        for v, d in c.users(node).items())
        if read_prev and shapes.is_sparse(node):
            out[node] = ("Exception: You must explicitly provide an initial output value for sparse "
                         f"data {data['local']}_output. E.g. '{data['local']}': "
                         "{'initial_output': 'zeros'}.")
    return out


@rule('SG113', "'#' key inside a rec unit",
      "Keys starting with '#' are only skipped at the top level of a network; inside the rec unit of "
      '{layer} the value is read as a layer.',
      "Move the '#' entry to the top level of the network, or make its value a dict.")
def hash_keys_in_units(c: Construction) -> dict[str, str]:
    """``#`` keys are only skipped at the top level; inside a rec unit a non-dict value breaks the
    template construction."""
    out = {}
    for node in c.order:
        if c.nodes[node]["class"] not in ("rec", "subnetwork"):
            continue  # only these hold a unit dict
        unit = c.nodes[node]["options"].get("unit") if c.nodes[node]["class"] == "rec" else None
        unit = c.spec_unit(node) if unit is None else unit
        if isinstance(unit, dict):
            bad = [k for k, v in unit.items() if isinstance(k, str) and k.startswith("#")
                   and not isinstance(v, dict)]
            if bad:
                out[node] = (f"AttributeError: {type(unit[bad[0]]).__name__!r} object has no "
                             f"attribute 'get' (the key {bad[0]!r} in the rec unit is read as a layer)")
    return out


@rule('SG115', 'loop layer read from outside',
      '{layer} stays inside the loop and is read from outside; only moved-out layers and output layers '
      '(and the sub-layers a/b of an output layer a that the loop reads) are available there.',
      "Add 'is_output_layer': True to {layer}; for a sub-layer a/b, to a, with a layer of the loop "
      "reading a/b (or read a loop 'copy' of a/b marked 'is_output_layer').")
def loop_layer_read_from_outside(c: Construction) -> dict[str, str]:
    """``rec/x`` from outside the loop exists only if x is moved out, an output layer, or accumulated
    for a layer moved out after the loop (``get_layer_from_outside`` looks in the output net, where
    ``get_loop_acc_layer`` registers it). A sub-layer ``a/b`` is a template of the cell only when a
    layer of the loop asks for it (``_TemplateLayer.get_sub_layer``, with its parent's
    ``is_output_layer``: then accumulated too); otherwise no net of the cell has it, and the lookup
    finds nothing (``LayerNotFound``)."""
    out = {}
    for node in c.order:
        rec = c.rec_of(node)
        if rec is None or c.placement(node) != "loop" or not _flattened_into(c, node, rec):
            continue
        if c.nodes[node]["options"].get("is_output_layer") or \
                (c.nodes[node]["local"] == "output" and c.nodes[node]["unit"] == rec):
            continue
        if any(c.placement(v) == "output" for v in c.users(node)):
            continue  # a layer moved out after the loop reads it: accumulated in the output net
        # ``rec/x`` from outside, or ``base:rec/x`` from another loop's unit (any option: a
        # ``reuse_params`` too, whose ``optional_get_layer`` lets only a dependency loop or a
        # ``LayerNotFound`` pass)
        readers = [v for v, d in c.users(node).items() if {"sub", "base"} & set(d.get("kinds", [d["kind"]]))
                   and rec not in c.recs_of(v) and v != rec and v in c.built and not _built_for(c, v, rec)]
        if not readers:
            continue
        local = node[len(rec) + 1:]
        if c.nodes[node]["node_kind"] == "sub" and c.nodes[c.parent(node)]["unit"] == rec:
            templated = any(rec in c.recs_of(v) and v in c.built for v in c.users(node))
            if not templated:
                out[node] = (f"LayerNotFound: sub-layer {local!r} not found in <RecLayer {rec!r}>: no layer "
                             f"of the loop reads it, so the cell has no template of it for {readers[0]}")
                continue
            if c.nodes[c.parent(node)]["options"].get("is_output_layer"):
                continue  # its template is an output layer too: accumulated in the output net
        out[node] = (f"Exception: Cannot get layer {local!r} from outside "
                     f"({readers[0]}), because it is only available inside the recurrent loop. "
                     "Add 'is_output_layer': True to the layer.")
    return out


def _flattened_into(c: Construction, node: str, rec: str) -> bool:
    """Whether ``node`` is a layer of ``rec``'s cell: of the unit itself, or of a ``subnetwork`` in it
    (flattened into the cell, ``sub/a``), which is read from outside only as an output layer of its own
    (``get_layer_from_outside`` finds ``sub/a`` in the cell's net, not in its output net, when only the
    subnetwork is an output layer)."""
    unit = c.nodes[node]["unit"]
    while unit is not None and unit != rec:
        if c.nodes[unit]["class"] != "subnetwork":
            return False
        unit = c.nodes[unit]["unit"]
    return unit == rec


def _built_for(c: Construction, reader: str, rec: str) -> bool:
    """Whether ``reader`` is built while ``rec`` is (the loop reads it, ``base:reader``, directly or
    through other layers): RETURNN constructs it from the rec layer's template construction, where
    ``rec/x`` resolves to x's template, so no "Cannot get layer from outside" error."""
    seen, todo = {reader}, [reader]
    while todo:
        for user in c.users(todo.pop()):
            if user == rec or rec in c.recs_of(user):
                return True
            if user not in seen:
                seen.add(user)
                todo.append(user)
    return False


@rule('SG120', 'decide or split_batch_beam inside the search loop',
      "{layer} is a 'decide' / 'split_batch_beam' layer that stays inside the loop in search, or a "
      "'decide_keep_beam' there on an input without a beam; RETURNN asks every layer of the loop for its "
      'initial beam state, which these layers cannot give (BaseChoiceLayer.get_rec_initial_extra_outputs '
      "needs a beam_size; DecideKeepBeamLayer's takes its source's beam).",
      "Decide after the loop (a root 'decide' on the rec layer's output), not inside it.")
def decide_in_loop(c: Construction) -> dict[str, str]:
    """``_SubnetworkRecCell.get_init_loop_vars`` calls ``get_rec_initial_extra_outputs`` of every
    layer left in the loop; ``DecideLayer`` and ``SplitBatchBeamLayer`` inherit
    ``BaseChoiceLayer``'s, which requires a ``beam_size`` option they do not have."""
    out: dict[str, str] = {}
    if not c.search:
        return out
    for node in c.order:
        data = c.nodes[node]
        rec = c.rec_of(node)
        if rec is None or c.placement(node) != "loop":  # subnetworks' inner templates included
            continue
        if data["class"] in ("decide", "split_batch_beam") and "beam_size" not in data["options"]:
            out.setdefault(rec, "TypeError: BaseChoiceLayer.get_rec_initial_extra_outputs() missing 1 "
                                f"required positional argument: 'beam_size' (from {node})")
        elif data["class"] == "decide_keep_beam":
            # DecideKeepBeamLayer.get_rec_initial_extra_outputs: sources[0].output.beam.beam_size
            first = next(((s, f) for s, o, f in c.inputs(node) if o == "from"), None)
            if first is not None and c.template_beam(first[0]) is None:
                out.setdefault(rec, "AttributeError: 'NoneType' object has no attribute 'beam_size' "
                                    f"(DecideKeepBeamLayer.get_rec_initial_extra_outputs of {node})")
    return out


@rule('SG123', 'loop output on a beam its length is not known for',
      "The loop {layer} gets its length per hypothesis from its 'end' layer, but its unit 'output' is on "
      "another beam that cannot be reached from the end layer's beam (typically: 'output' is computed "
      "from previous-frame values only, while 'end' reads this frame's choice), so RETURNN does not know "
      "the time axis' size for it.",
      "Compute the unit 'output' and 'end' from the same choice (usually 'output' is the choice and 'end' "
      'compares it with EOS).')
def loop_output_without_length(c: Construction) -> dict[str, str]:
    """``RecLayer.get_out_data_from_opts`` tags the loop's dynamic time dim with the unit ``output``
    template's beam; its size exists for the ``end`` layer's beam and what is selected from it (the
    beams chosen from it), so an ``output`` beam whose chain does not hold ``end``'s fails the
    template's ``sanity_check`` ("dynamic dim ... value unknown")."""
    out: dict[str, str] = {}
    if not c.search or not c.has_templates:
        return out
    for rec, beam in c.rec_output_beams().items():
        if beam is None or rec not in c.built or c.known_length(rec):
            continue
        end = next((m for m in c.children(rec) if c.nodes[m]["local"] == "end"), None)
        end_beam = c.template_beam(end) if end is not None else None
        # the template's beam object may have lost older links (a frame's oldest choice template is
        # built before the prev: values it reads): the sizes reach it along its choice's whole chain
        # as the frame builds it
        reached = set(beam.chain_key)
        if not beam.is_prev_frame and beam.name in c.nodes and c.beam(beam.name) is not None:
            reached |= set(c.beam(beam.name).chain_key)
        # an end layer on a previous frame's choice: its sizes are also translated to this frame's beam of
        # that choice (``_opt_search_resolve``: "logic from maybe_transform")
        names = {end_beam.name} if end_beam is not None else set()
        if end_beam is not None and end_beam.is_prev_frame and end_beam.next_frame is not None:
            names.add(end_beam.next_frame.name)
        if end_beam is not None and not names & reached:
            out[rec] = (f"AssertionError: Tensor{{'{c.nodes[rec]['local']}_output', ...}} sanity_check: "
                        f"dynamic dim Dim{{'dyn-time:{rec}'[B&Beam{{'{beam.name}'}}({beam.size})]}} value "
                        f"unknown (the loop's length is known on {end_beam.name}, its end layer's beam)")
    return out


@rule('SG126', 'dependency loop inside a rec unit',
      "{layer} is on a cycle of layers of its rec unit that read each other in the same frame ('from', "
      "'target' or another layer option, no 'prev:'): RETURNN builds the unit's templates lazily and "
      "gets past it, but constructing the layers for real it reaches this layer again while building it.",
      "Break the cycle: read one of the layers as 'prev:' (its previous frame), or drop the reference "
      "(a 'target' naming a layer of the unit is a dependency too).")
def construct_layer_dependency_loop(c: Construction) -> dict[str, str]:
    """``TFNetwork.construct_layer`` raises ``NetworkConstructionDependencyLoopException`` when the
    layer it is constructing is asked for again (``get_layer`` in ``transform_config_dict``: sources,
    target layers, other options); the cell's real construction goes through ``construct_layer``."""
    out: dict[str, str] = {}
    for cycle in c.cycles():
        node = next((n for n in cycle if c.nodes[n]["local"] == "output"), cycle[0])
        local = c.nodes[node]["local"]
        path = " -> ".join(cycle + cycle[:1])
        out.setdefault(node, f"NetworkConstructionDependencyLoopException: There is a dependency loop on "
                             f"layer '{local}' ({path}).")
    return out


_INITIAL_KEYWORDS = ("zeros", "ones", "var", "keep_over_epoch", "keep_over_epoch_no_init", "apply(0)")


def _initial_value_made(c: Construction, node: str) -> bool:
    """Whether the loop makes ``node``'s initial value (``get_rec_initial_output``): some layer reads
    it as ``prev:``, or it is a searching choice whose sources carry no beam (``ChoiceLayer.
    transform_config_dict`` then reads its own ``prev:`` frame, PR #1213)."""
    if any("prev" in c.edge(node, user).get("kinds", [c.edge(node, user)["kind"]]) for user in c.users(node)):
        return True
    data = c.nodes[node]
    return (data["class"] == "choice" and c.search and c.is_search_choice(node)
            and all(c.template_beam(src) is None for src, _ in c.sources(node)))


def _initial_values(c: Construction) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(node, rec, data)`` of every layer kept in a loop (directly in its unit) whose initial value
    the loop makes (``_SubnetworkRecCell.get_init_loop_vars``): where the rules on
    ``get_rec_initial_output`` look, one finding per rec layer."""
    for node in c.order:
        rec = c.rec_of(node)
        data = c.nodes[node]
        if rec is not None and data["unit"] == rec and c.placement(node) == "loop" and _initial_value_made(c, node):
            yield node, rec, data


@rule('SG128', "prev: value over an axis the loop sizes per frame",
      "{layer} needs the previous frame's value of a loop layer before its first frame, and that value "
      "has an axis whose size the loop only knows inside a frame (a 'slice_nd' with a size from a layer "
      "or none, e.g. a window of the encoder around the choice): RETURNN makes the initial value from "
      "the template's shape, and that axis has no size yet.",
      "Read this frame's value instead of 'prev:', reduce the axis before the value is carried over, "
      "give 'initial_output' a layer of the right shape, or give 'slice_nd' a fixed 'size'.")
def initial_output_dim_unknown(c: Construction) -> dict[str, str]:
    """``_SubnetworkRecCell.get_init_loop_vars`` → ``_get_init_output`` → ``LayerBase.
    get_rec_initial_output`` builds ``zeros`` (or the constant) of the template's shape:
    ``dim.get_dim_value()`` of each non-batch dim, which raises for a dim defined in the loop
    without a static size ("need placeholder, self.dimension or self.dyn_size for dim value"); for
    the layers whose initial value the loop makes (:func:`_initial_value_made`)."""
    out: dict[str, str] = {}
    shapes = c.derived(Shapes)
    for node, rec, data in _initial_values(c):
        if rec in out:
            continue
        initial = data["options"].get("initial_output")
        if isinstance(initial, str) and initial not in _INITIAL_KEYWORDS:
            continue  # a layer: copied into the template's shape
        dims = [d for d in shapes.loop_dims(node, rec) or () if d.startswith("slice_nd:")]
        if dims:
            out[rec] = (f"Exception: Dim{{'sliced-time:{c.nodes[dims[0][len('slice_nd:'):]]['local']}'}}: "
                        f"need placeholder, self.dimension or self.dyn_size for dim value (initial "
                        f"output of prev:{data['local']})")
    return out


#: classes whose construction asserts search choices on its sources (``ChoiceLayer.__init__`` in
#: search, ``ChoiceGetBeamScoresLayer`` / ``ChoiceGetSrcBeamsLayer``)
_NEED_SOURCE_CHOICES = ("choice_get_beam_scores", "choice_get_src_beams")


@rule('SG129', "initial_output 'apply(0)' rebuilds a layer that needs search choices",
      "{layer}'s loop makes the initial value of a layer with initial_output 'apply(0)' by building the "
      "layer's class again on zeroed copies of its sources; those copies carry no search choices, and "
      "this class needs them (a searching choice takes its previous beam from its sources' choices).",
      "Give the layer a constant initial_output (0 or the BOS label for a choice, 'zeros' for scores), or "
      "a layer.")
def initial_apply_needs_choices(c: Construction) -> dict[str, str]:
    """``LayerBase.get_rec_initial_output`` with ``initial_output="apply(0)"``: ``cls(name, output,
    sources=[InternalLayer zeroed copies])``. A searching ``ChoiceLayer`` asserts
    ``self.search_choices.src_layer`` ("Not implemented yet. In rec-layer, we would always have our
    prev-frame as one previous search choice"), the beam-score readers assert their source's search
    choices; raised while the rec layer sets up its loop, for the layers whose initial value it makes
    (:func:`_initial_value_made`)."""
    out: dict[str, str] = {}
    if not c.search:
        return out
    for node, rec, data in _initial_values(c):
        if rec in out or data["options"].get("initial_output") != "apply(0)":
            continue
        searching = (data["class"] == "choice" and c.is_search_choice(node)
                     and data["options"].get("input_type") != "regression")
        if searching or data["class"] in _NEED_SOURCE_CHOICES:
            out[rec] = ("AssertionError: Not implemented yet. In rec-layer, we would always have our "
                        f"prev-frame as one previous search choice. Our deps: zeroed sources of "
                        f"{data['local']} (its initial_output 'apply(0)')")
    return out


@rule('SG131', "initial_output layer does not fit the layer",
      "{layer}'s loop starts a layer from the layer given as its initial_output ({init}), copied into "
      "the layer's frame template: {why}.",
      "Give initial_output a layer of the frame's shape (one value per sequence, sparse like the layer: "
      "e.g. a constant label for a choice), or a constant (0, 'zeros').")
def initial_output_layer_mismatch(c: Construction) -> dict[str, Raised]:
    """``LayerBase.get_rec_initial_output`` with a layer: ``v.output.copy_compatible_to(output)``,
    which asserts the same sparsity (``AssertionError``) and raises a ``ValueError`` for a value with
    more axes than the template (a whole sequence for one frame); on the rec layer, while it sets up
    its loop, for the layers whose initial value it makes (:func:`_initial_value_made`). A layer of the
    same unit is its template, whose beam ``copy_extend_with_beam`` must find the frame's own, and which
    holds no value (``v.placeholder`` is None)."""
    out: dict[str, Raised] = {}
    shapes = c.derived(Shapes)
    for node, rec, data in _initial_values(c):
        initial = data["options"].get("initial_output")
        if rec in out or not isinstance(initial, str) or initial in _INITIAL_KEYWORDS:
            continue
        init = next((s for s, opt, _, _ in data.get("inputs", []) if opt == "initial_output"), None)
        if init is None or c.nodes[init]["node_kind"] not in ("layer", "data"):
            continue  # (extern data too: ``base:data:classes``, a whole sequence)
        if c.rec_of(init) == rec and c.search and c.has_templates:
            # a layer of the same unit: the rec cell's template of it, already on a beam of the frame
            # (``copy_extend_with_beam`` asserts it is the template's own)
            mine, theirs = c.template_beam(node), c.template_beam(init)
            local = c.nodes[init]["local"]
            if mine is not None and theirs is not None and mine.name != theirs.name:
                why = (f"the template of {local} is on beam {theirs.name}, the frame of {data['local']} on "
                       f"{mine.name}")
                out[rec] = Raised(f"AssertionError: incompatible beam ({theirs} vs {mine}) (initial_output "
                                  f"{local} of {data['local']})", names={"init": local, "why": why})
            else:  # the template has no value: its placeholder is None
                why = f"{local} is a layer of the same unit, whose template holds no value before the loop runs"
                out[rec] = Raised(f"ValueError: None values not supported. (initial_output {local} of "
                                  f"{data['local']}: a template)", names={"init": local, "why": why})
            continue
        if c.rec_of(init) is not None:
            continue
        choice = data["class"] == "choice" and data["options"].get("input_type") != "regression"
        mine, theirs = (True if choice else shapes.sparse(node)), shapes.sparse(init)
        frame_time = False if choice else shapes.frame_time(node, rec)
        local = c.nodes[init]["local"]
        if mine is not None and theirs is not None and mine != theirs:
            why = f"{local} is {'sparse' if theirs else 'dense'}, {data['local']} is {'sparse' if mine else 'dense'}"
            out[rec] = Raised(f"AssertionError: (copy_compatible_to: initial_output {local} of "
                              f"{data['local']}: {why})", names={"init": local, "why": why})
        elif shapes.root_time(init) is True and frame_time is False:
            why = f"{local} has a time axis, one frame of {data['local']} has none"
            out[rec] = Raised(f"ValueError: copy_compatible_to: self {local} already has more dims than "
                              f"target data {data['local']}", names={"init": local, "why": why})
        elif c.search and not c.batched(init) and c.template_beam(node) is not None:
            # ``copy_compatible_to`` gives the value a broadcast batch axis of no batch, which
            # ``copy_extend_with_beam`` cannot extend with the frame's beam (``BatchInfo``)
            why = (f"{local} has no batch axis (a gather, slice or reduce over 'B', or only constants), and "
                   f"{data['local']}'s frame is on a beam it must be tiled into")
            out[rec] = Raised(f"AssertionError: (copy_extend_with_beam of initial_output {local} of "
                              f"{data['local']}: {why})", names={"init": local, "why": why})
    return out


@rule('SG136', "end layer is not one flag per hypothesis",
      "{layer}'s 'end' layer ({end}) has a feature axis: it compares a vector ({src}) element-wise, where "
      "the loop needs one boolean per hypothesis and frame to know which sequences have ended.",
      "Compare a scalar per hypothesis: the choice's label (e.g. 'end': compare of the choice with the EOS "
      "label), or reduce / squeeze the feature axis first (a stop-token sigmoid with n_out 1 and a "
      "'squeeze' on 'F').")
def end_flag_shape(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._construct`` checks the ``end`` layer's frame value: "'end' layer ...
    unexpected shape" (``AssertionError`` on the rec layer); a searching choice that reads the previous
    frame's end flag for its length normalisation may fail first (``ValueError: Shapes must be equal
    rank, but are 2 and 1``). In training the loop's length comes from the target, so only search
    meets it."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    shapes = c.derived(Shapes)
    for node in c.order:
        rec = c.rec_of(node)
        data = c.nodes[node]
        if rec is None or data["unit"] != rec or data["local"] != "end" or c.known_length(rec):
            continue
        if shapes.has_feature_axis(node) is True:
            src = next((s for s, _ in c.sources(node)), node)
            out[rec] = Raised(f"AssertionError: <RecLayer {c.nodes[rec]['local']!r}>: 'end' layer {node!r} "
                              f"unexpected shape (a feature axis, from {src})",
                              names={"end": node, "src": src})
    return out


@rule('SG139', "rec unit's templates cannot be built",
      "RETURNN builds the templates of {layer}'s loop depth first from 'output', handing out a dummy "
      "template (no batch axis, no beam) for a layer not built yet and rebuilding the unfinished ones "
      "after; here {cause}.",
      "Let the loop's state depend on something with a batch axis each frame (a choice on its target, the "
      "loop's input, an encoder read through 'base:'), and give each layer options its class accepts (a "
      "'rec_unstack' in a loop that ends by its own 'end' layer names the axis it unstacks and sets "
      "'declare_rec_time'); then the templates build and no target name is left behind.")
def unit_templates_fail(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._construct_template`` replayed in its order
    (:mod:`searchgraph.analysis.template_order`): ``LayerNotFound`` of a target registered by the
    shallow ``get_layer``, a template without batch axis that a class cannot take, a class assertion."""
    return {node: Raised(message, names={"cause": cause})
            for node, (message, cause) in c.unit_template_failures().items()}


@rule('SG167', 'decide with several sources',
      "{layer} is a {cls} with {n} sources ({srcs}); DecideLayer and DecideKeepBeamLayer take exactly one "
      "(get_out_data_from_opts asserts len(sources) == 1), also while the templates are built, in training as "
      "in search.",
      "Give {layer} one source: combine {srcs} in a layer of their own (e.g. 'concat' or 'combine') and "
      "decide that, or decide each one in a layer of its own.")
def decide_with_several_sources(c: Construction) -> dict[str, Raised]:
    """``DecideLayer.get_out_data_from_opts`` / ``DecideKeepBeamLayer.get_out_data_from_opts``:
    ``assert len(sources) == 1``."""
    out: dict[str, Raised] = {}
    for node in c.order:
        cls = c.nodes[node]["class"]
        if cls not in ("decide", "decide_keep_beam"):
            continue
        sources = [s for s, _ in c.sources(node)]
        if len(sources) > 1:
            name = "DecideLayer" if cls == "decide" else "DecideKeepBeamLayer"
            out[node] = Raised(f"AssertionError: ({name}.get_out_data_from_opts: len(sources) == 1, "
                               f"{len(sources)} sources)",
                               names={"cls": cls, "n": str(len(sources)), "srcs": ", ".join(sources)})
    return out


@rule('SG140', 'decide on a value without batch axis',
      "{layer} decides {src}, whose output has no batch axis: {why}; DecideLayer makes its output "
      "batch-major (copy_as_batch_major) and asserts there is a batch axis to move.",
      "Compute the loop's 'output' from something with a batch axis each frame (the frame's choice, the "
      "loop's input, an encoder read through 'base:'), not only from its own previous frames.")
def decide_without_batch(c: Construction) -> dict[str, Raised]:
    """``DecideLayer.get_out_data_from_opts``: ``copy_as_batch_major`` of a source without batch axis
    (a rec layer whose unit ``output`` template has none: ``_construct_template`` started it as a
    dummy and nothing gave it one)."""
    out: dict[str, Raised] = {}
    shapes = c.derived(Shapes)
    for node in c.order:
        if c.nodes[node]["class"] not in ("decide", "decide_keep_beam"):
            continue
        sources = c.sources(node)
        if not sources:
            continue
        src = sources[0][0]
        inner = c.unit_output(src) if c.nodes[src]["class"] == "rec" else None
        if inner is not None and shapes.batchless(inner):
            why = (f"its unit's 'output' ({inner}) is computed only from the loop's own previous "
                   "frames, so its template keeps the dummy's missing batch axis")
        elif c.rec_of(src) is not None and c.rec_of(node) == c.rec_of(src) and shapes.batchless(src):
            why = "it is computed only from the loop's own previous frames (a template without batch axis)"
        elif c.nodes[node]["class"] == "decide" and c.rec_of(src) is None and not c.batched(src):
            why = ("it replaced or dropped the batch axis (a slice, gather, reduce or length over 'B'), or "
                   "is computed only from variables, constants or the frame index")
        else:
            continue
        out[node] = Raised("AssertionError: DecideLayer.get_out_data_from_opts: copy_as_batch_major of "
                           f"{src}, which has no batch axis", names={"src": src, "why": why})
    return out


@rule('SG145', 'length-normalised decide on a value without time axis',
      "{layer} decides {src} with length_normalization, which divides each hypothesis' score by its "
      "sequence length; {src} has no time axis, so there is no length (Tensor.get_sequence_lengths "
      "asserts a time axis).",
      "Set length_normalization: False on {layer} (one label per sequence has no length to normalise by).")
def decide_length_norm_without_time(c: Construction) -> dict[str, Raised]:
    """``DecideLayer.decide``: with ``length_normalization`` the beam scores are divided by
    ``src.output.get_sequence_lengths()``, which asserts the source has a time axis; only a source
    with a beam gets there (``DecideLayer.__init__``)."""
    out: dict[str, Raised] = {}
    shapes = c.derived(Shapes)
    for node, src in _beamed_root_decides(c):
        if c.nodes[node]["options"].get("length_normalization") and shapes.has_time(src) is False:
            out[node] = Raised("AssertionError: (DecideLayer with length_normalization: "
                               f"get_sequence_lengths of {src}, which has no time axis)", names={"src": src})
    return out


@rule('SG147', 'decide over a time axis split by split_dims',
      "{layer} decides {src}, whose time axis {split} made by splitting a dynamic axis (split_dims with -1 next "
      "to a size > 1): RETURNN's decide looks up the dim tag of each dynamic size it re-selects, and the "
      "split's new axis has a size tensor no dim tag is registered for (\"no dim tag found for size\").",
      "Decide before splitting: split_dims (and what follows it) over the decided value, not the beamed one.")
def decide_over_split_time(c: Construction) -> dict[str, Raised]:
    """``DecideLayer.decide``: ``Dim.get_tag_from_size_tensor(size)`` for each of the source's
    ``size_placeholder`` entries must find a tag; ``SplitDimsLayer`` gives its new ``..._rem`` dim a
    ``dyn_size_ext`` template whose size tensor is computed in ``__init__`` without registering it."""
    out: dict[str, Raised] = {}
    shapes = c.derived(Shapes)
    for node, src in _beamed_root_decides(c):
        tag = shapes.root_tag(src)
        if tag and tag.startswith("split:"):
            split = tag[len("split:"):]
            out[node] = Raised(f"AssertionError: (DecideLayer: no dim tag found for the size of {src}'s time "
                               f"axis, made by {split})", names={"src": src, "split": f"comes from {split}"})
    return out


def _beamed_root_decides(c: Construction) -> Iterator[tuple[str, str]]:
    """``(decide, source)`` of every ``decide`` outside the loops that search builds on a beamed source:
    only those get to ``DecideLayer.decide`` (``DecideLayer.__init__``)."""
    if not c.search:
        return
    for node in c.order:
        if c.nodes[node]["class"] != "decide" or c.rec_of(node) is not None or node not in c.built:
            continue
        sources = c.sources(node)
        if sources and c.beam(sources[0][0]) is not None:
            yield node, sources[0][0]


def _reads_extern_data(c: Construction, rec: str) -> bool:
    """Whether a layer of ``rec``'s loop reads extern data by name (not the loop's own input)."""
    for node in c.members(rec):
        for src, _, form in c.inputs(node):
            if form == "data" and c.nodes[src]["node_kind"] == "data" \
                    and c.edge(src, node).get("ref") not in ("data", "data:source"):
                return True
    return False


@rule('SG146', "a state without batch axis on a previous frame's choices",
      "{layer}'s loop carries a layer to the next frame (read as prev:) whose search choices are a previous "
      "frame's choice and which has no batch axis (e.g. a reduce over 'B'): at the end of each frame RETURNN "
      "re-selects such a state into the current choice's beam, and a value without batch axis cannot be "
      "re-selected (`maybe_transform`'s assertion).",
      "Keep the batch axis on values the loop carries (reduce over the features or time, not over 'B'), or "
      "carry the value before the reduction and reduce after reading its prev:.")
def batchless_carried_state(c: Construction) -> dict[str, str]:
    """``_SubnetworkRecCell`` ``maybe_transform``: each layer the next frame reads as ``prev:`` (and
    ``end``) whose search choices' owner is a ``prev:`` layer goes through
    ``translate_to_this_search_beam`` of the current choice; ``SelectSearchSourcesLayer.select_if_needed``
    hands back a layer without batch axis unchanged, and ``assert transformed_layer != layer`` fails."""
    out: dict[str, str] = {}
    if not c.search:
        return out
    for rec in c.searching_loops():
        for node in sorted(c.members(rec)):
            if c.placement(node) != "loop" or c.batched(node) or c.beam(node) is None:
                continue
            choices = c.chosen(node) or c.beam(node)
            if choices is None or not choices.is_prev_frame:
                continue
            carried = any(d.get("kind") == "prev" for _, _, d in c.graph.out_edges(node, data=True))
            if not carried:
                continue
            out.setdefault(rec, f"AssertionError: (maybe_transform: {node} is read as prev: next frame, its "
                                f"search choices are {choices.name}, and it has no batch axis, so it cannot "
                                "be re-selected into the current frame's beam)")
    return out


@rule('SG156', "need_last on a layer whose choices cannot take the end flag",
      "{layer}'s loop keeps {src} for its last frame (need_last). At the end of each frame RETURNN keeps an "
      "ended hypothesis' last value by selecting between {src} and its previous frame by the end flag "
      "({end}), translated first into {src}'s search choices ({choices}): {why}.",
      "Set need_last on a layer that depends on the frame's choice (the choice itself or what is computed "
      "from it), or read the layer after the loop without need_last (a rec sub-layer 'REC/{local}' "
      "marked is_output_layer).")
def need_last_end_flag(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._while_loop``'s ``body``, "Handle need_last": for each layer kept in the loop
    with ``need_last`` and search choices, ``choices.translate_to_this_search_beam([prev_layer,
    rel_end_layer])``; the relative end flag is ``end`` (``prev:end`` with ``include_eos``), or, when the
    loop's length is known, an ``InternalLayer`` of the loop's lengths, on the loop's beam without search
    choices. ``SelectSearchSourcesLayer`` asserts a common search base (the end flag's choices among the
    layer's chain) and that an input without search choices has no beam."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for node in c.order:
        rec = c.rec_of(node)
        data = c.nodes[node]
        if rec is None or rec in out or data.get("unit") != rec or not data["options"].get("need_last") \
                or c.placement(node) != "loop" or c.latest(rec) is None:
            continue
        chosen = c.chosen(node)
        if chosen is None:
            continue
        names = {"src": node, "local": data["local"], "choices": chosen.name}
        end = f"{rec}/end"
        if c.known_length(rec) or end not in c.built:  # no ``end``: the loop runs over its input's length
            out[rec] = Raised(f"AssertionError: (\"no src <InternalLayer {rec}/'rel_end_layer'> search choices "
                              "but beam?\")",
                              names={**names, "end": "the loop's lengths, which carry the loop's beam",
                                     "why": "that flag has a beam but no search choices"})
            continue
        if c.placement(end) != "loop":
            continue
        eos = bool(c.nodes[rec]["options"].get("include_eos"))
        end_choice = c.input_choice(end, "prev", node) if eos else c.chosen(end)
        end_name = f"{rec}/prev:end" if eos else end
        if end_choice is None or end_choice.name == chosen.name \
                or end_choice.name in {b.name for b in chosen.walk()}:
            continue
        out[rec] = Raised(f"AssertionError: <SelectSearchSourcesLayer {end_name!r} <SearchChoices owner="
                          f"{chosen.name.rsplit('/', 1)[-1]!r}>>: No common search base: from layer {end_name} "
                          f"search choices {end_choice.name}, to layer {node} search choices {chosen.name}",
                          names={**names, "end": end_name,
                                 "why": f"its search choices {end_choice.name} are newer than {chosen.name}, "
                                        "so there is no common search base"})
    return out


#: classes whose output template can carry a beam while the layer has no dependencies (so no search
#: choices): ``RecLastOutputLayer`` (the sub-layer's template, ``from`` empty, ``rec_layer`` no dependency).
#: Other layers without search choices on a beam (a ``cond`` whose branches bring it) are looked up
#: otherwise by ``DecideLayer`` (measured on RETURNN: fresh26's train-flag conds build)
_BEAM_WITHOUT_DEPENDENCIES = frozenset({"rec_last_output"})


@rule('SG157', 'decide on a beam without search choices',
      "{layer} decides {src}, which is on beam {beam} but has no search choices ({why}): DecideLayer "
      "selects the best hypothesis by the search choices' scores and asserts it found them.",
      "Decide the rec layer (or a sub-layer 'REC/x' of it marked is_output_layer), whose search choices "
      "are the loop's, instead of {src}.")
def decide_without_search_choices(c: Construction) -> dict[str, Raised]:
    """``DecideLayer.__init__``: a source with a beam goes to ``decide``, which returns no search choices
    when ``src.get_search_choices()`` finds none (a ``rec_last_output`` has the sub-layer's template,
    beam included, but no dependencies), and ``assert self.search_choices`` fails."""
    out: dict[str, Raised] = {}
    for node, src in _beamed_root_decides(c):
        if c.chosen(src) is not None or c.nodes[src]["class"] not in _BEAM_WITHOUT_DEPENDENCIES:
            continue
        why = "a rec_last_output takes its sub-layer's template, beam included, and has no dependencies"
        out[node] = Raised("AssertionError: (DecideLayer: no search choices for the beamed source: "
                           "assert self.search_choices)",
                           names={"src": src, "beam": str(c.beam(src)), "why": why})
    return out


@rule('SG161', "a nested loop's end flag on the outer loop's previous choice",
      "{layer} is a loop inside another loop's frame. Its end flag {src} is on the search choices of the "
      "outer loop's previous frame ({choices}), which it reads from outside. At the end of each inner frame "
      "RETURNN re-selects the end flag into the current frame of that choice, which it looks up among the "
      "inner loop's own layers by name ({local}): it is not there.",
      "Let the inner loop carry only values of its own frame: read the outer state once, outside what it "
      "carries (e.g. into a layer the inner loop does not read as prev:), or decide the outer value first; "
      "or run the inner loop as a rec of its own after the outer loop, over its decided output.")
def nested_loop_outer_choice(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._while_loop``'s ``body`` (``maybe_transform``) in a loop inside another loop's
    frame: the ``end`` flag (first of what the frame end transforms) whose search choices' owner is a
    ``prev:`` layer is translated into the current frame of that owner, looked up as
    ``self.net.layers[name]`` in the inner loop's own net: an owner of the outer loop is not there
    (``KeyError``). (The carried ``prev:`` values are transformed after the frame's outputs exist; their
    lookups are not modelled.)"""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for rec in c.order:
        if c.nodes[rec]["class"] != "rec" or c.rec_of(rec) is None or c.placement(rec) != "loop":
            continue
        members = c.members(rec)
        for node in sorted(members):
            if c.rec_of(node) != rec or c.placement(node) != "loop":
                continue
            # the end flag (``seq_len_info``: a loop with an ``end`` layer), transformed before anything
            # else of the frame (the carried ``prev:`` values come later, when the frame's layers exist)
            carried = c.nodes[node]["local"] == "end" and not c.known_length(rec)
            choices = c.chosen(node)
            if not carried or choices is None or not choices.is_prev_frame:
                continue
            owner = choices.name.replace("prev:", "", 1)
            if owner in members:
                continue
            local = owner.rsplit("/", 1)[-1]
            out[rec] = Raised(f"KeyError: '{local}' (maybe_transform in the inner loop {rec}: {node} is carried "
                              f"on {choices.name}, whose current frame {owner} is not a layer of the inner loop)",
                              names={"src": node, "choices": choices.name, "local": local})
            break
    return out
