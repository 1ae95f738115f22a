"""Checks: beams and search choices that RETURNN cannot bring together.

Every layer's inputs are translated into their newest search choice
(``TFNetwork._create_layer`` → ``translate_to_common_search_beam``, ``SelectSearchSourcesLayer``), which
needs them on one chain of choices; after a loop every output is backtracked along the frame's latest
choice (``_SubnetworkRecCell._opt_search_resolve``). These rules find where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import takewhile

from ..analysis.beams import SearchBeam
from ..analysis.choices import frame_choices, owner
from ..analysis.construction import Construction
from ..analysis.layouts import TIME_NAMES, dim_key
from ..graph.layers import get_layer_class
from .registry import Raised, rule
from .shapes import KEEP_AXES, Shapes, keeps_axes


@rule("SG101", "search choices cannot be compared",
      "{layer} combines inputs on beams of unrelated choices (neither was chosen from the other), e.g. "
      "two independent choices of one frame, or two decoders.",
      "Combine them only after a 'decide' on each, or chain the choices (feed one choice's output into "
      "the other's scores).")
def unrelated_choices(c: Construction) -> dict[str, Raised]:
    """``SearchBeam.get_combined_beam`` (templates) / ``SearchChoices.compare`` (the real layer) find
    no order between two inputs' choices: reported with both choice chains. A real layer that fails
    first while its inputs are translated (SG148), or that compares two previous frames in the middle of
    a frame (SG150), is left to that rule."""
    frame = c.frame_compare_errors()
    return {node: Raised(message, c.combine_traces(node)) for node, message in c.combine_errors().items()
            if node not in frame and (c.template_error(node) or _unowned_beam_input(c, node) is None)}


def _unowned_beam_input(c: Construction, node: str) -> tuple[str, str, str, str] | None:
    """The first input ``translate_to_common_search_beam`` re-selects for ``node`` although it is on a
    beam that no search choices own (one a ``masked_computation``'s searching unit choice made): its
    search choices are the common ones, so ``select_if_needed`` asserts that it has their beam.
    ``(input, its beam, its search choices, the masked layer)``, or None."""
    for src, beam, choice in _on_common_choices(c, node):
        maker = owner(beam)
        if maker in c.nodes and c.masked_choice_size(maker) is not None:
            return _shown(c, node, src), f"SearchBeam(name={beam.name!r}, beam_size={beam.size})", choice.name, maker
    return None


def _on_common_choices(c: Construction, node: str) -> Iterator[tuple[str, SearchBeam, SearchBeam]]:
    """``(input, its beam, its search choices)`` of each beamed input of ``node`` that
    ``translate_to_common_search_beam`` re-selects (two layers or more in the kwargs) and that is on the
    common search choices already: ``SelectSearchSourcesLayer.select_if_needed`` asserts that such an input
    has the beam of those choices (``search_choices.get_beam_info()``)."""
    if node in c.unbuilt or not c.search:
        return
    inputs = [(src, form) for src, _, form in c.inputs(node)]
    if c.has_rec_state(node) and c.placement(node) == "loop":
        inputs.insert(0, (node, "prev"))  # ``rec_previous_layer``: one more layer in the kwargs
    if c.translated_count(node) + len(inputs) - len(c.inputs(node)) < 2:
        return
    common = c.own_choice(node)  # ``_src_common_search_choices``: what the translation picked
    if common is None:
        return
    for src, form in inputs:
        beam, choice = c.input_beam(src, form, node), c.input_choice(src, form, node)
        if beam is not None and choice is not None and choice.name == common.name:
            yield src, beam, choice


def _shown(c: Construction, node: str, src: str) -> str:
    """An input as the layer reads it: its own previous frame (``rec_previous_layer``) as ``prev:NAME``."""
    return f"prev:{c.nodes[node]['local']}" if src == node else src


def _beam_mismatch(c: Construction, node: str, src: str, beam: SearchBeam, own: SearchBeam,
                   choice: str) -> Raised:
    """``select_if_needed``'s assertion: an input on the common search choices but not on their beam."""
    return Raised(f"AssertionError: SearchBeam(name={beam.name!r}, beam_size={beam.size}) != "
                  f"SearchBeam(name={own.name!r}, beam_size={own.size})",
                  names={"src": _shown(c, node, src), "beam": beam.name, "choice": choice, "own": own.name})


@rule('SG106', 'decided layer combined with a beamed one',
      "{layer} combines a 'decide' output (one hypothesis per sequence) with a layer still on a beam; "
      'RETURNN cannot select the decided value into that beam.',
      "Decide both inputs (add a 'decide' on the beamed one), or use the beamed value before the "
      "'decide'.")
def decided_with_beam(c: Construction) -> dict[str, str]:
    """A decided layer combined with a still-beamed one: RETURNN selects, and finds no common base."""
    out = {}
    for node in c.order:
        ins = c.inputs(node)
        decided = [s for s, _, _ in ins if get_layer_class(c.nodes[s]["class"]).beam_role ==
                   "decide" and any(c.beam(p) for p, _, _, _ in c.nodes[s].get("inputs", []))]
        if not decided:
            continue
        # a searching choice in a loop without beamed sources also depends on its own previous
        # frame (PR #1213): its decided sources are translated into that beam
        own_prev = c.is_search_choice(node) and c.rec_of(node) is not None and \
            all(c.input_beam(s, f, node) is None for s, _, f in ins)
        if len(ins) < 2 and not own_prev:
            continue
        beamed = [(s, c.input_beam(s, f, node)) for s, _, f in ins if c.input_beam(s, f, node) is not None]
        if own_prev and c.input_beam(node, "prev", node) is not None:
            beamed.append((f"prev:{c.nodes[node]['local']}", c.input_beam(node, "prev", node)))
        if decided and beamed:
            out[node] = (f"AssertionError: {node}: No common search base:\nfrom layer {decided[0]}, "
                         f"search choices decided,\nto layer {beamed[0][0]}, search choices "
                         f"{beamed[0][1]}.")
    return out


@rule('SG107', 'end layer on an independent choice',
      "The loop's 'end' layer is computed on a choice that {layer} does not descend from, so its end flag "
      "cannot be selected into {layer}'s beam.",
      "Compute 'end' from the choice of the frame that the output's choices derive from (usually the "
      'output choice).')
def end_on_independent_choice(c: Construction) -> dict[str, str]:
    """The end flag is re-selected into every searching choice's base beam (``prev:end``,
    ``RecStepInfoLayer.get_prev_end_flag``); a choice whose choices do not descend from the end layer's
    choice has no common search base with it. A loop whose length is known in advance has no
    ``prev:end`` layer (the end flag comes from the known lengths)."""
    out = {}
    for rec in c.searching_loops():
        end = f"{rec}/end"
        beam = c.chosen(end)
        if beam is None or end not in c.built or c.known_length(rec):  # no prev:end to translate
            continue
        end_owner = owner(beam)
        for node in c.children(rec):
            chosen = c.chosen(node)
            if not c.is_search_choice(node) or chosen is None or chosen.name != node:
                continue
            frame = {owner(b) for b in chosen.walk()}
            # a prev: choice's own search choices (``SearchChoices.src_layer`` of the prev: template)
            # follow its template's dependencies: the previous frame's chain mirrors this frame's
            for b in chosen.walk():
                mirrored = c.chosen(owner(b)) if b.is_prev_frame and owner(b) in c.nodes else None
                if mirrored is not None:
                    frame |= {owner(m) for m in mirrored.walk()}
            if end_owner not in frame:
                out[node] = (f"AssertionError: <SelectSearchSourcesLayer 'prev:end'>: No common search "
                             f"base: the end layer's choice {end_owner} is independent of {node}'s "
                             f"choices {[b.name for b in chosen.walk()]}")
    return out


@rule('SG108', 'moved-out layer combines beamed loop outputs',
      '{layer} is moved out of the loop and combines several inputs, one of them a beamed loop output (a '
      'loop layer, its prev: frame or another moved-out layer); RETURNN attaches search choices to loop '
      'outputs only after building moved-out layers.',
      "Mark {layer} 'is_output_layer': True inside the loop or read it from outside, or set the rec "
      "layer's 'optimize_move_layers_out': False.")
def moved_out_combines_loop_outputs(c: Construction) -> dict[str, str]:
    """A moved-out layer with several inputs, one of them with a beam but no search choices yet
    (:meth:`Construction.choices_pending`: a loop output, its ``prev:`` frame or another moved-out
    layer): ``translate_to_common_search_beam`` asserts on it (spec §6.5)."""
    out = {}
    for node in c.order:
        if c.placement(node) != "output" or c.translated_count(node) < 2:
            continue
        for src, _, form in c.inputs(node):
            if c.choices_pending(src, form, node):
                kind = "prev-layer" if form == "prev" else (
                    "loop-acc-layer" if c.placement(src) == "loop" else "moved out")
                name = f"prev:{src}" if form == "prev" else src
                out[node] = (f"AssertionError: layer <{kind} {name!r}> has beam "
                             f"{c.input_beam(src, form, node)} but no search choices; from layer desc "
                             f"{node!r}")
                break
    return out


@rule('SG133', 'input without data that carries a beam',
      "{layer} combines several inputs, one of them {src}, which search builds as a DataNotAvailableLayer "
      "(it needs data that inference does not have) on a beam: a DataNotAvailableLayer has no "
      "dependencies, so RETURNN finds no search choices for it and cannot translate it into the other "
      "inputs' beam.",
      "Do not read {src} in search: mark the data it needs 'available_for_inference': True if search has "
      "it, or keep {layer} out of the search network (e.g. compute it only in training).")
def unavailable_beamed_input(c: Construction) -> dict[str, Raised]:
    """``SearchChoices.translate_to_common_search_beam`` (``TFNetwork._create_layer_layer_desc``, before
    the layer's own availability is looked at) asserts that every input with a beam has search
    choices; a ``DataNotAvailableLayer`` (:attr:`Construction.unavailable`) has none."""
    out: dict[str, Raised] = {}
    for node in c.order:
        if node in c.unbuilt or c.translated_count(node) < 2:
            continue
        for src, _, form in c.inputs(node):
            if form == "prev" or src not in c.unavailable:
                continue
            beam = c.input_beam(src, form, node)
            if beam is not None:
                out[node] = Raised(f"AssertionError: layer <DataNotAvailableLayer {src!r}> has beam {beam} but no "
                                   f"search choices; from layer desc {node!r}", names={"src": src})
                break
    return out


@rule('SG137', 'input with a beam but no search choices',
      "{layer} combines several inputs, one of them {src}, which is on beam {beam} but has no search "
      "choices: {why}. Translating the inputs into a common beam, RETURNN asserts that every beamed "
      "input has search choices.",
      "{remedy}, add a 'decide' on {src} before {layer} reads it, or read {src} alone.")
def beamed_input_without_choices(c: Construction) -> dict[str, Raised]:
    """``SearchChoices.translate_to_common_search_beam``: a layer with several layer inputs asserts
    that each beamed input has search choices. A rec layer's beam is its unit ``output`` template's,
    but its search choices come from the accumulated ``output`` (``RecLayer.get_dep_layers``), which
    ``_opt_search_resolve`` gives the loop's latest choices only when the in-loop ``output`` has
    search choices of the loop's own (not after a regression choice, not a choice in a subnetwork of
    the unit); the other inputs without search choices are SG108's and SG133's."""
    out: dict[str, Raised] = {}
    for node in c.order:
        if node in c.unbuilt or c.translated_count(node) < 2:
            continue
        for src, _, form in c.inputs(node):
            if form == "prev" or src in c.unavailable or c.choices_pending(src, form, node):
                continue
            beam = c.input_beam(src, form, node)
            if beam is None or c.input_choice(src, form, node) is not None:
                continue
            made = owner(beam)
            rec = c.rec_of(made) if made in c.nodes else None
            if c.nodes[src]["class"] == "cond":
                why = ("it is a 'cond', which has no dependencies (its condition and branches are made by the "
                       "layer itself): only translating the layers in its own kwargs gives it search choices, "
                       "and none of those that count has a beam (its condition, or its own previous frame); its "
                       "beam comes from its branches")
            elif rec and rec != c.rec_of(src):
                why = (f"its beam comes from the loop {rec!r}, whose accumulated 'output' has no search choices "
                       "of the loop's own (the rec layer gets its search choices only through it)")
            else:
                why = "nothing it depends on has search choices"
            remedy = ("Make the cond's condition a layer on this frame's choice (so that its translation gives "
                      "the cond search choices), or compute the value without a cond" if c.nodes[src]["class"] == "cond"
                      else "Make the rec unit's 'output' the loop's choice (or a layer computed from this frame's "
                      "choice)")
            out[node] = Raised(f"AssertionError: layer {src!r} has beam {beam} but no search choices; "
                               f"from layer desc {node!r}",
                               names={"src": src, "beam": str(beam), "why": why, "remedy": remedy})
            break
    return out


@rule('SG164', "previous frame with a beam but no search choices",
      "{layer} is translated into a common beam with {src} among its inputs (its previous frame, "
      "{why}); {src} has beam {beam}, but the current frame's layer, where RETURNN looks up a previous "
      "frame's search choices, has none: nothing it depends on has search choices (its beam comes only "
      "through a layer that keeps its inputs out of its dependencies, a 'cond's branches).",
      "Feed the layer behind {src} a layer on this frame's beam through 'from' (e.g. the choice, or a "
      "layer computed from it), outside the cond.")
def previous_frame_without_choices(c: Construction) -> dict[str, Raised]:
    """``_TemplateLayer.get_search_choices`` of a previous frame (``prev:X``): the search choices of the
    current frame's ``X`` (the real layer where it is built, else its template), as their previous
    frame; without any it asserts ``not self.output.beam`` ("beam ... but no search choices; deps").
    ``translate_to_common_search_beam`` asks it of every beamed layer in a layer's kwargs, the layer's
    own previous frame (``rec_previous_layer``) among them."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for node in c.order:
        if node in c.unbuilt or c.rec_of(node) is None or c.placement(node) != "loop":
            continue
        ins = c.translate_inputs(node)
        if len(ins) < 2:
            continue
        for inp in ins:
            if inp.kind != "prev" or inp.beam is None or inp.choice is not None or inp.decided:
                continue
            why = ("its rec_previous_layer: the loop carries it to the next frame"
                   if inp.option == "rec_previous_layer" else f"read as {inp.name!r}")
            out[node] = Raised(f"AssertionError: <_TemplateLayer {inp.name!r}>: beam {inp.beam} but no "
                               f"search choices; deps (from layer desc {node!r})",
                               names={"src": inp.name, "beam": str(inp.beam), "why": why})
            break
    return out


@rule('SG134', "input on its choice's previous-frame beam",
      "{layer} combines several inputs; {src} is on beam {beam}, the previous frame of its own search "
      "choice {choice} ({why}). Translating the inputs into their common search choices, RETURNN asserts "
      "that an input on those choices has their beam.",
      "{fix}")
def input_on_previous_frame_beam(c: Construction) -> dict[str, Raised]:
    """``SelectSearchSourcesLayer.select_if_needed`` (from ``translate_to_common_search_beam``, a layer
    with several layer inputs): an input whose search choices are the common ones must have their
    beam (``layer.output.beam == search_choices.get_beam_info()``); a rec layer's own beam is its unit
    ``output`` template's (``RecLayer.get_out_data_from_opts``), its search choices the loop's latest
    choice's, so a unit ``output`` on the previous frame's beam fails there."""
    out: dict[str, Raised] = {}
    for node in c.order:
        if node in c.unbuilt or c.translated_count(node) < 2:
            continue
        common = c.chosen(node)
        for src, _, form in c.inputs(node):
            beam, choice = c.input_beam(src, form, node), c.input_choice(src, form, node)
            if beam is None or choice is None or not beam.is_prev_frame or choice.is_prev_frame \
                    or common is None or common.name != choice.name:
                continue
            # ``get_beam_info()`` is the choice layer's own beam (a regression or ``search: False``
            # choice keeps its input's, which may be this previous frame's)
            owner = c.beam(choice.name) if choice.name in c.nodes else None
            if owner is None or owner.name == beam.name:
                continue
            if c.nodes[choice.name].get("unit_kind") == "subnet":
                why = (f"the choice sits in the subnetwork {c.nodes[choice.name]['unit']} of the loop: "
                       "RETURNN "
                       "looks up a prev: value's search choices on the current frame when their owner is "
                       "in another net than the loop's")
                fix = (f"Keep the choice a layer of the rec unit itself (not inside the subnetwork "
                       f"{c.nodes[choice.name]['unit']}), or read {src} alone.")
            else:
                why = ("a rec layer whose unit 'output' is computed from previous-frame values, not from the "
                       "frame's choice")
                fix = ("Make the rec unit's 'output' the choice (or a layer computed from it), or read {src} "
                       "alone.")
            out[node] = Raised(f"AssertionError: {beam} != {owner} (select_if_needed: "
                               f"{src} on the previous frame of its search choices {choice.name})",
                               names={"src": src, "beam": str(beam), "choice": choice.name, "why": why,
                                      "fix": fix.replace("{src}", src)})
            break
    return out


@rule('SG110', "another search's beam inside the loop",
      "{layer} mixes this loop's beam with the still-beamed output of another search (another decoder), "
      'which RETURNN cannot relate.',
      "Add a 'decide' on the other decoder's output before this loop reads it, or run both in one loop.")
def foreign_beam_in_loop(c: Construction) -> dict[str, str]:
    """A loop layer that mixes its own loop's beam with the still-beamed output of another search
    (a decoder reading another decoder's undecided output): RETURNN has no mapping between them."""
    out: dict[str, str] = {}
    units = {b.name.rpartition("/")[0] for b in c.beams() if b is not None}
    if len(units) < 2:  # every beam is chosen in one unit: a loop's beams are all its own or all foreign
        return out
    for node in c.order:
        rec = c.rec_of(node)
        if rec is None or c.placement(node) != "loop":
            continue
        beams = [b for b in (c.input_beam(s, f, node) for s, _, f in c.inputs(node)) if b]
        own = [b for b in beams if b.name.startswith(rec + "/")]
        foreign = [b for b in beams if not b.name.startswith(rec + "/")]
        if own and foreign:
            out[node] = (f"AssertionError: {node}: {foreign[0]} from outside the loop is still "
                         f"beamed and cannot be related to the loop's {own[0]} (No cur -> prev "
                         "mapping / buggy search choices resolution)")
    return out


@rule('SG127', "loop layer's beam differs from its template's",
      "{layer} is built in the loop with search choices from its inputs, but its template (which "
      "decides the loop's shapes) saw another beam: the class's template ignores an input that carries "
      "the beam (a 'slice_nd' size computed from the choice only sets the new axis' size); RETURNN "
      "checks each loop layer against its template ('has buggy search choices resolution').",
      "Also feed {layer} the beamed layer through 'from' or 'start' (e.g. a 'start' from the same "
      "choice), or compute the size outside the loop.")
def buggy_search_choices_resolution(c: Construction) -> dict[str, str]:
    """``_SubnetworkRecCell._construct``'s ``get_layer``: after constructing a loop layer without
    search choices of its own, ``layer.get_search_choices()`` (its dependencies') must give the
    template's beam and beam size, else "has buggy search choices resolution"."""
    out: dict[str, str] = {}
    if not c.search or not c.has_templates:
        return out
    for node in c.order:
        data = c.nodes[node]
        rec = c.rec_of(node)
        if rec is None or data["node_kind"] != "layer" or c.placement(node) != "loop" \
                or c.is_search_choice(node) or data["class"] in ("rec", "subnetwork"):
            continue
        real, template = c.own_choice(node), c.template_beam(node)
        if real is None or get_layer_class(data["class"]).beam_role not in ("generic", "cond", "masked_computation"):
            continue
        beam = c.beam(node)
        if beam is None and template is None:
            continue  # a layer without beam finds no search choices (``LayerBase.get_search_choices``)
        unowned = beam is not None and owner(beam) in c.nodes and c.masked_choice_size(owner(beam)) is not None
        if template is None or beam is None or beam.name != template.name or beam.size != template.size \
                or (unowned and real.size != beam.size):
            # (the search choices' beam size too: a beam no search choices own, SG148's, has its own)
            out[node] = (f"Exception: {node} has buggy search choices resolution. layer beam {beam} vs "
                         f"template beam {template}, search choices {real.name}({real.size})")
    return out


def _resolved_layers(c: Construction, rec: str) -> list[str]:
    """Loop layers whose per-frame values RETURNN accumulates and backtracks after the loop
    (``get_loop_acc_layer``): ``output``, output layers, and what is read from outside the loop; a
    sub-layer (``a/0``) is a template of its own, with its parent's options (``is_output_layer``)."""
    out = []
    for node in c.children(rec):
        data = c.nodes[node]
        if c.placement(node) != "loop" or data["node_kind"] not in ("layer", "sub"):
            continue
        opts = c.nodes[c.parent(node)]["options"] if data["node_kind"] == "sub" else data["options"]
        if data["local"] == "output" or opts.get("is_output_layer") or any(
                c.outside(v, rec) or c.placement(v) == "output"
                for v in c.users(node) if v in c.built):
            out.append(node)
    return out


def _first_reader_after_loop(c: Construction, node: str) -> str | None:
    """The first layer moved out after the loop that reads the loop layer ``node``: what RETURNN is
    building when it accumulates and backtracks ``node`` (``get_loop_acc_layer``), or None."""
    movers = [v for v in c.users(node) if v in c.built and c.placement(v) == "output"]
    return min(movers, key=c.order.index) if movers else None


def _resolved_on_own_choices(c: Construction) -> Iterator[tuple[str, str, str]]:
    """``(rec, node, layer_choice)`` for each accumulated loop layer that ``_opt_search_resolve``
    resolves: its search choices belong to a choice of the rec unit itself (not a ``decide_keep_beam``'s
    raw ones, not another net's). The unit's ``output`` comes first: ``get_output`` accumulates it
    first."""
    if not c.search:
        return
    for rec in c.order:
        if c.nodes[rec]["class"] != "rec" or c.latest(rec) is None:
            continue
        for node in sorted(_resolved_layers(c, rec), key=lambda n: n != f"{rec}/output"):
            chosen = c.chosen(node)
            layer_choice = owner(chosen) if chosen is not None else None
            if layer_choice is None or layer_choice not in c.nodes or c.nodes[layer_choice]["unit"] != rec \
                    or c.nodes[layer_choice]["class"] == "decide_keep_beam":
                continue
            yield rec, node, layer_choice


@rule('SG119', "output on a choice off the frame's latest choice chain",
      "{layer} backtracks its outputs along the frame's latest choice and its chain of earlier choices; "
      'an output layer of the loop depends on a choice that is not on that chain (a second, independent '
      'choice of the frame), so RETURNN cannot resolve it over time (_get_search_choice_seq).',
      "Chain the extra choice into the frame (compute the main choice's scores from it), or keep it out "
      "of the outputs: no 'is_output_layer' and no reads from outside the loop.")
def output_off_the_choice_chain(c: Construction) -> dict[str, str]:
    """After the loop, ``_opt_search_resolve`` finds each accumulated layer's choice, walks back to
    the previous frame's choice ``prev:L``, walks ``L``'s in-frame chain back to the previous frame
    again and asserts it reaches ``prev:L`` (``prev_frame_choice.name == "prev:" + L``) and that the
    layer's choice is on that chain (``assert layer_choice in choice_seq_in_frame``)."""
    out: dict[str, str] = {}
    for rec, node, layer_choice in _resolved_on_own_choices(c):
        if rec in out:
            continue
        latest, _ = frame_choices(c.chosen(layer_choice))
        if latest is None or latest == layer_choice or latest not in c.nodes:
            continue
        back, seq = frame_choices(c.chosen(latest))
        if back is not None and back != latest:
            # ``assert prev_frame_choice.name == "prev:%s" % latest_layer_choice.name``
            out[rec] = (f"AssertionError: (_get_search_choice_seq: the latest choice {latest} of "
                        f"{node}'s choice {layer_choice} goes back to prev:{back}, not prev:{latest})")
        elif back == latest and layer_choice not in seq:
            out[rec] = (f"AssertionError: (_get_search_choice_seq: {node}'s choice {layer_choice} is "
                        f"not on the frame's choice chain {seq} of the latest choice {latest})")
    return out


@rule('SG138', "output's choice chain runs through a choice in a subnetwork",
      "Building {layer} after the loop, RETURNN backtracks {output} along the frame's choices; that "
      "chain runs through "
      "{inner}, a choice inside the subnetwork {subnet} of the loop, and RETURNN resolves choices only "
      "among the rec unit's own layers (_get_search_choice_seq: 'not yet implemented otherwise').",
      "Make {inner} a layer of the rec unit itself (not inside {subnet}).")
def output_chain_through_subnetwork_choice(c: Construction) -> dict[str, Raised]:
    """``_opt_search_resolve`` on an accumulated layer whose search choices belong to the loop's net
    walks them back to the previous frame (``get_choice_seq``), asserting every choice on the way is
    a layer of the loop's own net; a choice inside a subnetwork of the unit is not."""
    out: dict[str, Raised] = {}
    done: set[str] = set()
    for rec, node, layer_choice in _resolved_on_own_choices(c):
        if rec in done:
            continue
        in_frame = takewhile(lambda b: not b.is_prev_frame and owner(b) in c.nodes,
                             (c.chosen(layer_choice) or c.chosen(node)).walk())  # type: ignore[union-attr]
        inner = next((owner(b) for b in in_frame if c.nodes[owner(b)]["unit"] != rec), None)
        if inner is None:
            continue
        done.add(rec)
        blame = _first_reader_after_loop(c, node) or node
        subnet = c.nodes[inner]["unit"]
        out[blame] = Raised("AssertionError: not yet implemented otherwise (_get_search_choice_seq: "
                            f"{node}'s choice chain runs through {inner}, a layer of {subnet})",
                            names={"output": node, "inner": inner, "subnet": subnet})
    return out


@rule('SG141', 'time-major loop output resolved after the loop',
      "Building {layer}, RETURNN backtracks {output}, an accumulated output of the loop, along the frame's "
      "search choices (_opt_search_resolve), and that code splits the batch axis off axis 0. {output}'s "
      "value in the loop is not batch-major: {why}, so RETURNN asserts 'layer.output.batch_dim_axis == 0'.",
      "Do not accumulate {output}: drop 'is_output_layer' (or the read from outside the loop), or make its "
      "value batch-major in the loop (e.g. mark the attention weights, which softmax_over_spatial makes "
      "batch-major, instead of the energies).")
def time_major_resolved_output(c: Construction) -> dict[str, Raised]:
    """``_opt_search_resolve``'s ``transform`` (``rec.py``) reads each frame of an accumulated loop
    layer whose search choices are the unit's own and asserts ``layer.output.batch_dim_axis == 0``. A
    loop layer's template takes the layout of its first input with the most axes
    (``Data.get_common_data``): a layer over the encoder's time-major keys (``base:enc_ctx``, ``[T,B,F]``)
    is time-major in the frame (layouts from the template replay, :mod:`searchgraph.analysis.layouts`)."""
    out: dict[str, Raised] = {}
    for rec, node, _ in _resolved_on_own_choices(c):
        if rec in out:
            continue
        layout = c.loop_layout(node)
        if layout is None or layout.batch == 0 or (layout.batch is None and layout.ndim == 0):
            continue
        reader = _first_reader_after_loop(c, node)
        blame = rec if node == f"{rec}/output" or reader is None else reader
        if layout.batch is None:
            why = (f"its template has no batch axis at all ({c.nodes[node]['class']}: {layout.ndim} axis, "
                   "none of them the batch), though it carries the beam")
        elif layout.tag:
            why = (f"its batch axis is axis {layout.batch} of {layout.ndim}, taken from an input over the "
                   f"time axis {layout.tag} laid out time-major")
        else:
            why = f"its batch axis is axis {layout.batch} of {layout.ndim}"
        out[blame] = Raised(f"AssertionError: (_opt_search_resolve: transform of {c.nodes[node]['local']}: "
                            f"assert layer.output.batch_dim_axis == 0; it is {layout.batch})",
                            names={"output": node, "why": why})
    return out


@rule('SG125', 'loop output over a dim of the loop without a batch axis',
      "{layer} accumulates an output layer of its loop that carries a dim defined inside the loop "
      "(a 'cum_concat' axis); RETURNN also accumulates that dim's size per frame (a helper 'length' layer "
      "':dyn-tag-accum:...'), and backtracking it along the search choices after the loop "
      "(_opt_search_resolve) asserts a batch-major value, which that size, without a batch axis, is not.",
      "Mark only batch-major values over the loop's own axes as outputs: reduce the 'cum_concat' axis "
      "inside the loop first (e.g. the attention context, not its weights), or drop 'is_output_layer'.")
def opt_search_resolve_loop_dim(c: Construction) -> dict[str, str]:
    """``_SubnetworkRecCell.get_output`` adds a ``length`` layer ``:dyn-tag-accum:L:tagN`` for every
    dim of an accumulated layer ``L`` whose ``control_flow_ctx`` is the loop's, and accumulates it
    like ``L``; ``_opt_search_resolve`` backtracks it (its search choices are ``L``'s, made in this
    loop) and its ``transform`` asserts ``layer.output.batch_dim_axis == 0``: a cum_concat axis'
    size inside the loop is a scalar."""
    out: dict[str, str] = {}
    if not c.search:
        return out
    shapes = c.derived(Shapes)
    for rec in c.order:
        if c.nodes[rec]["class"] != "rec" or c.latest(rec) is None:
            continue
        for node in _resolved_layers(c, rec):
            chosen = c.chosen(node)
            layer_choice = owner(chosen) if chosen is not None else None
            if layer_choice not in c.nodes or c.rec_of(layer_choice) != rec \
                    or c.nodes[layer_choice]["class"] == "decide_keep_beam":
                continue
            if any(d.startswith("cum_concat:") for d in shapes.loop_dims(node, rec) or ()):
                out[rec] = (f"AssertionError: (_opt_search_resolve of ':dyn-tag-accum:"
                            f"{c.nodes[node]['local']}:tag1': assert layer.output.batch_dim_axis == 0; "
                            f"the size of {node}'s cum_concat axis in the loop has no batch axis)")
                break
    return out


@rule('SG121', 'beam-reading layer without a beam',
      '{layer} reads the beam itself (its scores, source beams, or splits it off the batch), but {reason}.',
      "{remedy}")
def beam_reader_without_beam(c: Construction) -> dict[str, Raised]:
    """``choice_get_beam_scores`` / ``choice_get_src_beams`` assert their source has search choices
    and ``split_batch_beam`` asserts a beam (``rec.py``)."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for node in c.order:
        data = c.nodes[node]
        if data["class"] not in ("choice_get_beam_scores", "choice_get_src_beams", "split_batch_beam"):
            continue
        srcs = [(s, f) for s, o, f in c.inputs(node) if o == "from"]
        if len(srcs) != 1 or c.nodes[srcs[0][0]]["node_kind"] != "layer":
            continue
        if c.input_beam(srcs[0][0], srcs[0][1], node) is None:
            what = "no beam" if data["class"] == "split_batch_beam" else "no search choices"
            out[node] = Raised(f"AssertionError: {node}: source {srcs[0][0]} has {what}", names={
                "reason": "its input carries no beam in search (e.g. it was decided before)",
                "remedy": f"Feed {node} the beamed layer (before any 'decide')."})
        elif data["class"] != "split_batch_beam" and c.choices_pending(srcs[0][0], srcs[0][1], node):
            # moved out after the loop: the accumulated loop layers get their search choices only once
            # every moved-out layer is built
            src, form = srcs[0]
            head, _, tail = src.rpartition("/")
            shown = (f"{head}/prev:{tail}" if head else f"prev:{tail}") if form == "prev" else src
            out[node] = Raised(
                f"AssertionError: {node}: source {shown} has no search choices (in the loop's output net, before "
                "the accumulated loop layers' search choices are set)", names={
                    "reason": (f"nothing in the loop reads it, so RETURNN moves it out after the loop, where its source "
                               f"{shown} finds no search choices: the loop's accumulated layers get theirs only after "
                               "every moved-out layer is built"),
                    "remedy": (f"Keep {node} in the loop (read it from a layer of the frame, e.g. add it to the "
                               "next frame's scores), or read the beam scores of the decoder's output after the "
                               "loop from the rec layer itself")})
    return out


@rule('SG122', 'decide on raw beam scores from inside a loop',
      "{layer} decides a loop output whose search choices were kept raw by a 'decide_keep_beam' in the "
      "loop; DecideLayer takes the argmax over those choices' beam scores, a tensor of the loop body, "
      'which TensorFlow does not allow outside the loop.',
      "Decide the rec layer's output (or a loop output without decide_keep_beam) instead; keep raw values "
      'only for dumping.')
def decide_on_raw_loop_scores(c: Construction) -> dict[str, str]:
    """``DecideLayer.decide`` reads ``src.get_search_choices().beam_scores``; the search choices of a
    ``decide_keep_beam`` in a loop are ``keep_raw`` and never resolved after the loop
    (``_opt_search_resolve``), so their scores are the loop body's tensor."""
    out: dict[str, str] = {}
    if not c.search:
        return out
    for node in c.order:
        if c.nodes[node]["class"] != "decide" or c.rec_of(node) is not None:
            continue
        for src, opt, form in c.inputs(node):
            beam = c.input_choice(src, form, node) if opt == "from" else None
            kept = owner(beam) if beam is not None else None
            if kept in c.nodes and c.nodes[kept]["class"] == "decide_keep_beam" \
                    and c.rec_of(kept) is not None:
                out[node] = (f"ValueError: Cannot use the beam scores of {kept} (inside the loop's while "
                             f"body) as input to {node}'s ArgMax outside the loop")
                break
    return out


@rule('SG142', 'first accumulated output of a searching loop has no search choices',
      "After the loop, RETURNN accumulates the loop's extra outputs before its own 'output'; the first, "
      "{first}, depends on no choice of the loop (no beam in the frame), so its sequence lengths are tagged "
      "as beamless, and backtracking {layer}'s 'output' along its choices (_opt_search_resolve) then asserts "
      "that these lengths are on the 'end' layer's beam.",
      "Let {first} depend on the loop's choice (or move it out of the loop: without 'is_output_layer', or "
      "with optimize_move_layers_out), or end the loop at a known length.")
def beamless_first_output(c: Construction) -> dict[str, Raised]:
    """``_construct_output_layers_moved_out`` resolves the unit's output layers (sorted by name), then
    what the layers moved out after the loop read, and only then the unit's ``output``. The first
    resolved layer's ``get_loop_acc_layer`` tags the loop's length tensor with its own beam
    (``set_tag_on_size_tensor``): None for a layer without search choices. With an ``end`` layer,
    ``_opt_search_resolve`` of ``output`` asserts ``seq_len._RETURNN_dyn_size_beam`` is the end layer's
    beam."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for rec in c.order:
        if c.nodes[rec]["class"] != "rec" or c.latest(rec) is None or c.known_length(rec) \
                or rec in c.unavailable or rec in c.unbuilt:
            continue
        unit = c.children(rec)
        output = c.unit_output(rec)
        end = next((n for n in unit if c.nodes[n]["local"] == "end"), None)
        if output is None or end is None or end not in c.built or c.chosen(output) is None:
            continue
        in_loop = [n for n in unit if c.placement(n) == "loop" and n in c.built and n != output
                   and c.nodes[n]["node_kind"] == "layer" and c.nodes[n]["options"].get("is_output_layer")]
        if in_loop:
            first = [min(in_loop, key=lambda n: c.nodes[n]["local"])]
        else:  # what the layers moved out after the loop read of it, in their order
            first = [s for v in c.order if c.rec_of(v) == rec and c.placement(v) == "output"
                     for s, _, _ in c.inputs(v) if c.placement(s) == "loop" and c.rec_of(s) == rec]
        if first and all(c.chosen(n) is None and c.beam(n) is None for n in first):
            out[rec] = Raised(f"AssertionError: (_opt_search_resolve of {c.nodes[output]['local']}: the loop's "
                              f"lengths were tagged without beam by {c.nodes[first[0]]['local']}, accumulated "
                              "first; they must be on the end layer's beam)",
                              names={"first": first[0]})
    return out


@rule('SG143', "searching loop's end layer has no search choices",
      "{layer}'s loop searches, and its 'end' layer depends on none of its choices ({why}). After the loop, "
      "RETURNN backtracks {output} along the frame's choices (_opt_search_resolve) and translates the "
      "loop's lengths, which the end layer defines per hypothesis, to the latest choice's beam; it asserts "
      "the end layer has search choices ('assert end_layer_choice and end_layer_choice.search_choices').",
      "Let 'end' depend on the frame's choice (e.g. compare the choice with the end-of-sequence label, or "
      "combine the length condition with such a compare), or end the loop at a known length "
      "('max_seq_len' without an 'end' layer, or the target's length).")
def end_without_search_choices(c: Construction) -> dict[str, Raised]:
    """``_opt_search_resolve`` of the first accumulated layer with search choices of the loop's own
    net (the unit's output layers, what the layers moved out after the loop read, ``output``): with an
    ``end`` layer, the loop's lengths are on the end layer's beam and get translated to the latest
    choice's, so it asserts ``self.net.get_search_choices(src=end_layer)`` is not None."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for rec, node, _ in _resolved_on_own_choices(c):
        if rec in out or c.known_length(rec) or rec in c.unavailable or rec in c.unbuilt:
            continue
        end = next((n for n in c.children(rec) if c.nodes[n]["local"] == "end"), None)
        if end is None or end not in c.built or c.chosen(end) is not None:
            continue
        reads = [s for s, _, _ in c.inputs(end)]
        why = (f"it reads only {', '.join(c.nodes[s]['local'] for s in reads)}" if reads
               else "it reads no layer")
        out[rec] = Raised(f"AssertionError: (_opt_search_resolve of {c.nodes[node]['local']}: the end layer "
                          "has no search choices)", names={"output": c.nodes[node]["local"], "why": why})
    return out


@rule('SG153', "searching loop's end layer has no batch axis",
      "{layer} is a choice of a searching loop whose 'end' layer, {end}, has no batch axis ({why}) but carries "
      "the search choices ({choices}) through its other dependencies. Each frame the choice takes the previous "
      "frame's end flags of every hypothesis (get_prev_end_flag, translated to its beam) to keep ended "
      "hypotheses' scores ({use}); the flag of {end} is one scalar, not one per hypothesis, and TensorFlow "
      "rejects its shape.",
      "Give 'end' one flag per hypothesis: compare the frame's choice with the end-of-sequence label (and "
      "combine a length condition with it, e.g. 'logical_or' with a compare of ':i'), instead of a value "
      "computed only from ':i', constants or scalars.")
def end_without_batch_axis(c: Construction) -> dict[str, Raised]:
    """``ChoiceLayer.__init__`` in search reads ``get_rec_step_info().get_prev_end_flag(...)``: with a
    ``prev:end`` layer that has search choices it is that layer's value translated into the choice's beam,
    reshaped to ``(batch, beam)`` for ``length_normalization`` (a scalar: "Dimension size must be evenly
    divisible by beam") and compared with the scores in ``filter_ended_scores`` ("Shapes must be equal
    rank"). A ``copy``'s ``extra_deps`` give their beam, not their batch axis (``CopyLayer``)."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for rec in c.order:
        if c.nodes[rec]["class"] != "rec" or rec in c.unavailable or rec in c.unbuilt:
            continue
        unit = c.children(rec)
        end = next((n for n in unit if c.nodes[n]["local"] == "end"), None)
        if end is None or end not in c.built or c.placement(end) != "loop" or c.chosen(end) is None:
            continue
        data = c.nodes[end]
        srcs = [s for s, option, _ in c.inputs(end) if option == "from"]
        if data["class"] not in ("copy", "compare", "combine", "cast", "activation", "reinterpret_data") \
                or not srcs or any(c.batched(s) for s in srcs):
            continue
        choice = next((n for n in c.order if n in unit and c.is_search_choice(n) and c.placement(n) == "loop"),
                      None)
        if choice is None:
            continue
        opts = c.nodes[choice]["options"]
        beam = opts.get("beam_size")
        if opts.get("length_normalization", True):
            message = (f"ValueError: Dimension size must be evenly divisible by {beam} but is 1 ({choice}: "
                       f"length_normalization reshapes the previous end flag of {end}, a scalar, to (batch, beam))")
            use = "and to normalise their lengths (length_normalization)"
        else:
            message = (f"ValueError: Shapes must be equal rank, but are 0 and 1 ({choice}: filter_ended_scores "
                       f"with the previous end flag of {end}, a scalar)")
            use = "filter_ended_scores"
        reads = ", ".join(srcs)
        out[choice] = Raised(message, names={"end": end, "choices": c.chosen(end).name, "use": use,
                                             "why": f"it is computed from {reads} only"})
    return out


@rule('SG154', "previous frame of a value without batch axis on the previous choice",
      "{layer}'s loop passes {src} on to the next frame (something reads prev:{local}). Its value has no batch "
      "axis ({why}), and its search choices are the previous frame's ({choices}): it does not depend on this "
      "frame's choice. Before the next frame RETURNN translates such a value to this frame's choice "
      "(maybe_transform), which leaves a value without batch axis as it is, and asserts the translation made a "
      "new layer ('assert transformed_layer != layer').",
      "Let {src} depend on this frame's choice, or give it a batch axis (e.g. compute it per hypothesis from a "
      "layer with one), or do not read prev:{local}.")
def prev_frame_without_batch_on_prev_choice(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._while_loop``'s ``body``: ``maybe_transform`` of each layer whose previous
    frame is needed (``_initial_outputs``) with search choices owned by a ``prev:`` layer translates it
    with the current frame's choice (``translate_to_this_search_beam``); ``select_if_needed`` returns a
    layer without batch axis as it is (``batch_dim_axis is None``), and ``maybe_transform`` asserts
    ``transformed_layer != layer``. A ``length`` along a ``cum_concat`` history dim of the frame has no
    batch axis (the dim's size in the loop is the frame index plus one)."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    shapes = c.derived(Shapes)
    prev_read = {src for node in c.order if c.rec_of(node) is not None
                 for src, _, form in c.inputs(node) if form == "prev"}
    for node in c.order:
        rec = c.rec_of(node)
        if rec is None or rec in out or node not in prev_read or c.placement(node) != "loop" \
                or c.latest(rec) is None:
            continue
        chosen = c.chosen(node)
        if chosen is None or not chosen.name.rsplit("/", 1)[-1].startswith("prev:"):
            continue
        why = _frame_value_without_batch(c, shapes, node, rec, frozenset())
        if why is None:
            continue
        out[rec] = Raised(f"AssertionError: (maybe_transform of {c.nodes[node]['local']} for the next frame: on the "
                          f"previous choice {chosen.name} without batch axis: assert transformed_layer != layer)",
                          names={"src": node, "local": c.nodes[node]["local"], "why": why,
                                 "choices": chosen.name})
    return out


def _frame_value_without_batch(c: Construction, shapes: Shapes, node: str, rec: str,
                               seen: frozenset[str]) -> str | None:
    """Why ``node``'s value in ``rec``'s frame surely has no batch axis (a ``length`` along a
    ``cum_concat`` dim of the frame, or a ``cast`` / ``eval`` / ``activation`` / ``copy`` of such values
    only), else None."""
    data = c.nodes[node]
    if node in seen or data["node_kind"] != "layer" or c.rec_of(node) != rec or c.placement(node) != "loop":
        return None
    cls, opts = data["class"], data["options"]
    srcs = [(s, f) for s, option, f in c.inputs(node) if option == "from"]
    if cls == "length":
        key = dim_key(opts.get("axis"))
        if key is not None and len(srcs) == 1 and srcs[0][1] == "from" \
                and "cum_concat:" + key in (shapes.loop_dims(srcs[0][0], rec) or ()):
            return f"the length of {srcs[0][0]} along its cum_concat history dim, whose size in the frame is a scalar"
        return None
    if cls in ("cast", "activation", "copy") or (cls == "eval" and not opts.get("out_type")):
        whys = [_frame_value_without_batch(c, shapes, s, rec, seen | {node}) if f == "from" else None
                for s, f in srcs]
        if srcs and all(whys):
            return whys[0]
    return None


@rule('SG148', "input on a beam no search choices own",
      "{layer} combines several inputs; {src} is on beam {beam}, which the searching choice that is the "
      "unit of the masked_computation {maker} made. That layer is no choice layer, so no search choices "
      "own the beam: {src}'s search choices are {choice}. Translating the inputs into their common search "
      "choices, RETURNN asserts that an input on those choices has their beam.",
      "Make the choice a layer of the rec unit itself and mask what reads it (a masked_computation over "
      "the label's embedding), or give the masked_computation a unit that does not search.")
def input_on_unowned_beam(c: Construction) -> dict[str, Raised]:
    """``SelectSearchSourcesLayer.select_if_needed``: a ``masked_computation`` whose unit is a searching
    ``choice`` gets that choice's output template, on a new beam
    (``MaskedComputationLayer.get_out_data_from_opts``, ``ChoiceLayer._create_search_beam``), but is no
    ``BaseChoiceLayer``: its search choices, and those of what reads it, are its inputs'. A layer with
    several layer kwargs on those choices (the masked layer itself: its own previous frame comes in as
    ``rec_previous_layer``) asserts ``layer.output.beam == search_choices.get_beam_info()``."""
    out: dict[str, Raised] = {}
    for node in c.order:
        found = _unowned_beam_input(c, node)
        if found is None:
            continue
        src, beam, choice, maker = found
        out[node] = Raised(f"AssertionError: {beam} != the beam of its search choices {choice!r} "
                           f"(select_if_needed, translating {src} for {node})",
                           names={"src": src, "beam": beam, "choice": choice, "maker": maker})
    return out


@rule('SG149', "hdf_dump of a beamed layer",
      "{layer} writes {src} to an HDF file, and {src} is on beam {beam}: HDFDumpLayer asks for the "
      "sequence tags extended by that beam (get_seq_tags(beam=...)), and the sequence tags, which carry "
      "no batch information, cannot be extended with a beam.",
      "Dump the decided value (a 'decide' on {src} first), or dump it outside search.")
def hdf_dump_of_beamed_layer(c: Construction) -> dict[str, Raised]:
    """``HDFDumpLayer.__init__``: ``self.network.get_seq_tags(beam=data.beam)``, whose
    ``copy_extend_with_beam`` of the ``seq_tag`` data asserts ``data.batch`` (measured on RETURNN:
    the sequence tags have none when the network is built)."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for node in c.order:
        if c.nodes[node]["class"] != "hdf_dump" or node in c.unbuilt:
            continue
        beam = c.beam(node)
        srcs = c.sources(node)
        if beam is None or not srcs:
            continue
        src = srcs[0][0]
        out[node] = Raised(f"AssertionError: (HDFDumpLayer: get_seq_tags(beam={beam.name!r}): "
                           "copy_extend_with_beam asserts data.batch)",
                           names={"src": src, "beam": str(beam)})
    return out


def _unordered_lookup(kind: str, looked_up: str, of: str, first: str, second: str) -> tuple[str, str]:
    """RETURNN's message and our reason for a ``get_search_choices`` walk that raised (kinds as
    :func:`~searchgraph.analysis.choice_deps.incomparable_choices` gives them): ``looked_up`` its
    arguments, ``of`` the layer it started from."""
    if kind == "compare":
        return (f"Exception: get_search_choices {looked_up}: Search choices cannot be compared ({first} vs {second})",
                "neither is on the other's chain of choices ('Search choices cannot be compared')")
    if kind == "mapping":
        return ((f"AssertionError: No cur -> prev mapping for some layers (get_search_choices of {of}: the choices "
                 f"of {second} have no prev: layers among those of {first})"),
                (f"the choices found for {second} are of the frame, and {first}'s have no prev: layers for them "
                 "('No cur -> prev mapping for some layers')"))
    return (f"AssertionError: (get_search_choices of {of}: {first} and {second} normalize to the same layer)",
            "two layers that stand for the same one")


@rule('SG162', "a template choice's source choices cannot be ordered",
      "{layer} reads values of choices' previous frames; to translate them into one beam RETURNN looks up "
      "{what} {choice} (still a template in the frame), walking the dependencies its template "
      "recorded (get_search_choices, each layer's answer remembered). Through a cycle of prev: templates "
      "(a loop state written with its own previous frame) one layer's answer is remembered before it is "
      "complete, and the walk ends with {first} and {second}: {how}.",
      "Keep the state's recurrence inside a cell layer ('rnn_cell', or 'rec' with a unit such as "
      "'nativelstm2') instead of writing it with prev: references to the state itself, so that no cycle of "
      "prev: templates hides how {first} and {second} depend on each other.")
def template_choice_unordered(c: Construction) -> dict[str, Raised]:
    """``SearchChoices.src_layer`` of a choice still a template (``get_search_choices(base_search_choice=
    ...)``, computed once while ``translate_to_common_search_beam`` compares a layer's inputs' search
    choices): ``_get_all_search_choices`` over the templates' recorded dependencies, then ``compare_layer``
    over the choices found (:mod:`~searchgraph.analysis.choice_deps`)."""
    out: dict[str, Raised] = {}
    for node, (choice, role, kind, first, second) in c.template_choice_order_errors().items():
        if role == "built":
            continue  # (SG165)
        looked_up = (f"src=None base_search_choice=<template {choice}>" if role == "base" else
                     f"src=<template {choice}> base_search_choice=None")
        message, how = _unordered_lookup(kind, looked_up, f"the template {choice}", first, second)
        what = "the choice that comes before" if role == "base" else "the search choices of"
        out[node] = Raised(message, names={"choice": choice, "first": first, "second": second, "how": how,
                                           "what": what})
    return out


@rule('SG165', "a built layer's search choices cannot be ordered",
      "Right after building {built} in the loop's frame (while {layer} is built), RETURNN asks it for its "
      "search choices, a check for a 'buggy search choices resolution' (_SubnetworkRecCell._construct, "
      "get_layer). {built} has a beam but no choices of its own, and its inputs were not translated into "
      "one beam (fewer than two layers in its options, or none of them beamed), so it walks its dependencies for them "
      "(get_search_choices(src=...)): through a prev: input to that layer's current template, whose recorded "
      "dependencies lead back to layers still being walked (their answers, not complete yet, are remembered), "
      "and it ends with {first} and {second}: {how}.",
      "Feed back the choice itself (or a layer on it only), not a layer that reads the frame's own output "
      "distribution or other layers of the frame being built; or keep such a switch's second branch out of "
      "the previous frame that {built} reads.")
def built_layer_choices_unordered(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._construct``'s ``get_layer`` calls ``layer.get_search_choices()`` on each layer
    it built; a layer without ``search_choices`` and ``_src_common_search_choices`` but with a beam walks
    its dependencies (``TFNetwork.get_search_choices(src=layer)``: the real layers' translated inputs, the
    ``prev:`` templates and their current templates), and ``compare_layer`` or the cur -> prev mapping
    raises (:mod:`~searchgraph.analysis.choice_deps`)."""
    out: dict[str, Raised] = {}
    for node, (built, role, kind, first, second) in c.template_choice_order_errors().items():
        if role != "built":
            continue
        message, how = _unordered_lookup(kind, f"src=<{built}> base_search_choice=None sources=None", built,
                                         first, second)
        out[node] = Raised(message, names={"built": built, "first": first, "second": second, "how": how})
    return out


@rule('SG150', "previous frames of two choices compared mid-frame",
      "{layer} reads values on the previous frames of two choices of its loop, {old} and {new} ({new} is "
      "chosen from {old}). RETURNN compares two previous frames by the choices of the current frame: "
      "when {layer} is built, {old} is already built for this frame but {new} is still its template, "
      "whose chain of source choices was fixed while {old} was a template too ({first} compared them "
      "earlier in the frame), so the real {old} is not on it.",
      "Give {layer} inputs on one previous frame only (the newer choice's: e.g. read {old}'s value of "
      "the current frame instead of its previous one, or a layer without state of its own instead of "
      "an rnn_cell whose state is on {old}'s beam), or build {layer} before {old} in the frame.")
def prev_frames_compared_mid_frame(c: Construction) -> dict[str, Raised]:
    """``SearchChoices.compare`` of two previous frames (``translate_to_common_search_beam`` in
    ``_create_layer``) compares their ``get_normalized_layer``: the real layer where the frame built it
    already, else the template; a template's ``src_layer`` is computed once and cached
    (:mod:`~searchgraph.analysis.frame_order`)."""
    out: dict[str, Raised] = {}
    messages = c.combine_errors()
    for node, (old, new, first) in c.frame_compare_errors().items():
        out[node] = Raised(messages.get(node, "Exception: Cannot compare search choices"), c.combine_traces(node),
                           names={"old": c.nodes[old]["local"], "new": c.nodes[new]["local"], "first": first})
    return out


@rule('SG151', "searching loop over a static axis",
      "{layer} backtracks {output}, an accumulated output of the loop, along the frame's search choices "
      "(_opt_search_resolve). The loop ends by its 'end' layer, so the lengths of the hypotheses are resolved "
      "along the choices and set as the loop's time dim's dynamic size; but the loop runs over the axis "
      "{axis}, a static dim ({size} frames) that has no dynamic size, and RETURNN asserts "
      "'time_dim_tag.dyn_size_ext is not None'.",
      "Let the searching loop run over a dynamic axis: drop the rec layer's 'axis' (its own new time dim), "
      "or give a dim without a static size.")
def static_axis_of_searching_loop(c: Construction) -> dict[str, Raised]:
    """``_SubnetworkRecCell._opt_search_resolve`` with an ``end`` layer (``if end_layer:``) resolves the
    sequence lengths along the choices and asserts ``time_dim_tag.dyn_size_ext is not None`` for the
    loop's time dim (the rec layer's ``axis``), which a static dim (``Dim(dimension=N)``) has not."""
    out: dict[str, Raised] = {}
    for rec, node, _ in _resolved_on_own_choices(c):
        if rec in out or c.known_length(rec):
            continue
        axis = c.nodes[rec]["options"].get("axis")
        spec = axis.get("__dim__") if isinstance(axis, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("dimension"), int):
            continue
        if not any(c.nodes[m]["local"] == "end" for m in c.children(rec)):
            continue
        reader = _first_reader_after_loop(c, node)
        blame = rec if node == f"{rec}/output" or reader is None else reader
        name = spec.get("description") or "?"
        out[blame] = Raised(f"AssertionError: (_opt_search_resolve of {c.nodes[node]['local']}: the loop's time dim "
                            f"{name!r} is static: assert time_dim_tag.dyn_size_ext is not None)",
                            names={"output": node, "axis": repr(name), "size": str(spec["dimension"])})
    return out


@rule('SG152', "decide over a resized beamed axis",
      "{layer} decides {src}, which carries the beam and an axis {resize} resized by a factor that is no "
      "integer (or with 'fill_dropout'): ResizeLayer made that axis a new dim with no batch of its own and "
      "gave it a copy of the beamed sizes. DecideLayer drops the beam (data.beam = None), the dim is then "
      "adopted for the batch without beam (Dim.get_for_batch_ctx) and its beamed sizes do not fit it: "
      "RETURNN asserts 'batch.beam == self.beam'.",
      "Decide before resizing (resize the decided value), or resize by an integer factor (a dim derived "
      "from the beamed one, which RETURNN can carry to the decided batch).")
def decide_over_resized_beam(c: Construction) -> dict[str, Raised]:
    """``DecideLayer.get_out_data_from_opts`` sets ``data.beam = None``; ``_adapt_batch_consistent_dim_tags``
    then calls ``get_for_batch_ctx`` on each dim. A ``resize`` with a non-integer factor or ``fill_dropout``
    (``ResizeLayer.get_out_data_from_opts``) makes its axis a new ``Dim`` without batch whose
    ``dyn_size_ext`` is a copy of the source's sizes, beamed where the source is: adopting that dim for
    the beamless batch sets the beamed sizes' batch and asserts ``batch.beam == self.beam``."""
    out: dict[str, Raised] = {}
    for node in c.order:
        data = c.nodes[node]
        if data["node_kind"] != "layer" or data["class"] != "decide" or c.rec_of(node) is not None:
            continue
        srcs = [s for s, option, form in c.inputs(node) if option == "from" and form in ("from", "data")]
        if len(srcs) != 1 or c.beam(srcs[0]) is None:
            continue
        resize = _resized_beamed_axis(c, srcs[0], frozenset())
        if resize is not None:
            out[node] = Raised(f"AssertionError: ({node}: DecideLayer sets beam None over {srcs[0]}, whose axis "
                               f"from {resize} is a new dim holding the beamed sizes: assert batch.beam == "
                               "self.beam)", names={"src": srcs[0], "resize": resize})
    return out


def _resized_beamed_axis(c: Construction, node: str, seen: frozenset[str]) -> str | None:
    """The ``resize`` whose new dim (non-integer factor or ``fill_dropout``, on a beamed input with a
    dynamic axis) ``node`` still has: followed back through classes that keep their sources' axes."""
    data = c.nodes[node]
    if node in seen or data["node_kind"] != "layer" or c.rec_of(node) is not None:
        return None
    cls, opts = data["class"], data["options"]
    srcs = [s for s, option, form in c.inputs(node) if option == "from" and form in ("from", "data")]
    if cls == "resize":
        factor = opts.get("factor")
        new_dim = opts.get("fill_dropout") or (isinstance(factor, float) and not isinstance(factor, bool))
        axis = opts.get("axis")
        if new_dim and axis in TIME_NAMES and c.beam(node) is not None and len(srcs) == 1 \
                and c.derived(Shapes).root_tag(srcs[0]):
            return node
        return None
    if not keeps_axes(cls, opts, KEEP_AXES) or not srcs or c.beam(node) is None:
        return None
    for src in srcs:
        found = _resized_beamed_axis(c, src, seen | {node})
        if found is not None:
            return found
    return None


@rule('SG159', "input on a regression choice's search choices with another beam",
      "{layer} combines several inputs; {src} is on beam {beam} and on the search choices of the regression "
      "choice {choice}, whose own output is on its source's beam {own} (a regression choice chooses nothing: "
      "ChoiceLayer copies its source's output). Translating the inputs into their common search choices, "
      "RETURNN asserts that an input on those choices has their beam.",
      "Decide the loop's output before combining it (a 'decide' on {src}), or combine it with nothing else "
      "(one input).")
def input_off_regression_beam(c: Construction) -> dict[str, Raised]:
    """``SelectSearchSourcesLayer.select_if_needed``: an input whose search choices are the common ones must
    have their beam (``search_choices.get_beam_info()``, the owner's output beam). A regression ``choice``
    (``input_type: regression``) keeps its source's output and beam (``ChoiceLayer.__init__``:
    ``copy_compatible_to``), so its search choices' beam is the previous frame's, while the rec layer's
    output (its template) is on the choice's own beam: combining the rec layer with another layer asserts."""
    out: dict[str, Raised] = {}
    for node in c.order:
        for src, beam, choice in _on_common_choices(c, node):
            chooser = choice.name
            if choice.is_prev_frame or chooser not in c.nodes or c.nodes[chooser]["class"] != "choice" \
                    or c.nodes[chooser]["options"].get("input_type") != "regression":
                continue
            own = c.beam(chooser)
            if own is None or own.name == beam.name:
                continue
            out[node] = _beam_mismatch(c, node, src, beam, own, chooser)
            break
    return out


@rule('SG160', "input on the common search choices with another beam",
      "{layer} combines several inputs; {src} is on beam {beam} but its search choices are {choice}'s, whose "
      "beam is {own}: RETURNN finds a layer's search choices along all its dependencies (an option layer such "
      "as a masked_computation's mask too), while its beam comes from its sources only. Translating the inputs "
      "into their common search choices ({choice}), RETURNN asserts that an input on those choices has their "
      "beam (SelectSearchSourcesLayer.select_if_needed).",
      "Let {src}'s sources reach {choice} too (read the later choice's value, or compute the mask from the "
      "same beam as the masked input), or keep {src} out of layers that also read {choice}'s beam.")
def input_off_common_beam(c: Construction) -> dict[str, Raised]:
    """``SelectSearchSourcesLayer.select_if_needed``: an input whose search choices are the common ones
    must have their beam (``search_choices.get_beam_info()``: the owner's output, on the previous frame for
    a ``prev:`` owner). The general case; an input on a previous frame of its current-frame choices (SG134),
    on a beam no search choices own (SG148) and on a regression choice's choices (SG159) say why in their
    own words."""
    out: dict[str, Raised] = {}
    for node in c.order:
        for src, beam, choice in _on_common_choices(c, node):
            own = _beam_info(c, choice)
            if own is None or own.name == beam.name or (beam.is_prev_frame and not choice.is_prev_frame):
                continue
            maker = owner(beam)
            chooser = owner(choice)
            if (maker in c.nodes and c.masked_choice_size(maker) is not None) or (
                    chooser in c.nodes and c.nodes[chooser]["options"].get("input_type") == "regression"):
                continue
            out[node] = _beam_mismatch(c, node, src, beam, own, choice.name)
            break
    return out


def _beam_info(c: Construction, choice: SearchBeam) -> SearchBeam | None:
    """``SearchChoices.get_beam_info()``: the beam of the search choices' owner (a ``prev:`` owner's is
    its current frame's as the previous frame)."""
    maker = owner(choice)
    if maker not in c.nodes:
        return None
    got = c.beam(maker)
    if got is None:
        return None
    return got.copy_as_prev_frame() if choice.is_prev_frame else got
