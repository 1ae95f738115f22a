"""Checks: choice layers RETURNN rejects in search (``ChoiceLayer`` in ``rec.py``).

A choice's options (``transform_config_dict``, ``get_out_data_from_opts``, ``__init__``), where it may
search (a base choice and length normalisation need a loop), what ``search: False`` needs, and what
its scores must look like.
"""

from __future__ import annotations

from ..analysis.construction import Construction
from ..analysis.layouts import names_batch
from .registry import Raised, rule
from .shapes import Shapes


@rule('SG103', 'choice layer misconfigured',
      "{layer} is a choice whose options RETURNN rejects in search mode (missing 'from' or 'target', "
      'search: False without a target, search: False with length normalisation, or a regression choice '
      'with a beam size other than 1, several sources or cheating; prob_scale 0 without random sampling; '
      'cheating with several sources, '
      'without a target, or on another non-cheating choice not chosen from its own previous frame).',
      "Give the choice 'from' and 'target' explicitly (target: None to search without one); with search: "
      'False also set length_normalization: False; a regression choice takes one source and beam_size 1; '
      'cheating needs one source and the target it adds to the beam; to ignore the scores give '
      'prob_scale a small non-zero value.')
def choice_options(c: Construction) -> dict[str, str]:
    """What ``ChoiceLayer`` asserts about its options in search (``transform_config_dict``,
    ``get_out_data_from_opts``, the regression branch of ``__init__``)."""
    out = {}
    for node in c.order:
        data = c.nodes[node]
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
        elif opts.get("search") is False and c.search and c.beam(node) is not None \
                and c.adds_to_beam_scores(node) and opts.get("length_normalization", True):
            out[node] = ("AssertionError: a choice with search=False in a search network adds its "
                         "scores to the beam (add_to_beam_scores), which requires "
                         "length_normalization=False")
        elif opts.get("input_type") == "regression" and c.is_search_choice(node):
            # ChoiceLayer.__init__, regression branch: one source, beam size 1, no cheating
            sources = opts["from"] if isinstance(opts["from"], (list, tuple)) else [opts["from"]]
            src = next(((s, f) for s, o, f in c.inputs(node) if o == "from"), None)
            first = c.input_beam(src[0], src[1], node) if src is not None else None
            why = (f"beam_size {opts.get('beam_size')} != 1" if opts.get("beam_size", 1) != 1 else
                   f"{len(sources)} sources != 1" if len(sources) != 1 else
                   "cheating" if opts.get("cheating") else
                   f"its source is on beam {first} (size {first.size} != 1)" if first is not None
                   and first.size != 1 else None)
            if why:
                out[node] = f"AssertionError: (ChoiceLayer with input_type 'regression' in search: {why})"
        elif c.is_search_choice(node) and (zero := _zero_score_scale(opts)):
            out[node] = zero
        elif opts.get("cheating") and c.is_search_choice(node):
            why = _cheating_error(c, node)
            if why:
                out[node] = why
    return out


def _zero(value: object) -> bool:
    """A number option that is zero (``optional_mul`` / ``optional_add`` test ``v == 0`` on numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _zero_score_scale(opts: dict) -> str | None:
    """The score combination of a searching choice (``ChoiceLayer.__init__``): ``optional_add`` of
    ``optional_mul(scores_in, prob_scale)``, ``optional_mul(scores_base, base_beam_score_scale)`` and the
    random sample term. ``optional_mul`` returns a literal 0 for a zero factor, so with ``prob_scale: 0``
    (and no random sampling) only the beam scores (batch, beam, 1) are left, and ``set_shape`` to the
    scores' dim fails; with both scales 0 the sum is the int 0, which has no ``set_shape``. A
    ``custom_score_combine`` and the regression branch do not take this path."""
    if opts.get("input_type") == "regression" or opts.get("custom_score_combine") \
            or not _zero(opts.get("prob_scale", 1.0)) or not _zero(opts.get("random_sample_scale", 0.0)):
        return None
    if _zero(opts.get("base_beam_score_scale", 1.0)):
        return ("AttributeError: 'int' object has no attribute 'set_shape' (prob_scale and "
                "base_beam_score_scale are both 0, so the combined scores are the number 0)")
    return ("ValueError: Dimension 2 in both shapes must be equal, but are 1 and the scores' dim "
            "(prob_scale 0 drops the scores: the combined scores are only the beam scores, (batch, beam, 1))")


def _cheating_error(c: Construction, node: str) -> str | None:
    """What ``ChoiceLayer._get_cheating_targets_and_src_beam_idxs`` rejects: it needs one source and
    the target (the true label it adds to the beam), and when its base search choices are another
    choice of this frame that does not cheat, that choice must have been chosen from this choice's
    previous frame."""
    opts = c.nodes[node]["options"]
    sources = opts["from"] if isinstance(opts["from"], (list, tuple)) else [opts["from"]]
    if len(sources) != 1:
        return "AssertionError: Cheating not yet implemented for multiple sources."
    if not opts.get("target") or opts.get("target") == "none":
        return ("AttributeError: 'NoneType' object has no attribute 'get_placeholder_as_batch_major' "
                "(cheating reads the choice's target, and it has none)")
    chosen = c.chosen(node)
    chain = chosen.walk() if chosen is not None else []
    # the default case (no source beam index of its own: ``beam_search`` assumes ``beam_in - 1``), which
    # ``keep_beams`` breaks: its inner ``beam_search`` over one entry per hypothesis makes that index a
    # Python int, and then asks for its ``shape``
    default = ("AttributeError: 'int' object has no attribute 'shape' (beam_search with keep_beams and "
               "cheating)") if opts.get("keep_beams") else None
    if len(chain) < 2 or chain[1].is_prev_frame or chain[1].name == node:
        return default
    other = chain[1].name
    data = c.nodes.get(other)
    if data is None:
        return default
    if data["class"] != "choice" or data["options"].get("cheating"):
        # the default case on scores whose beam is that of a layer of this frame (not a previous frame's,
        # whose size the loop's shape invariants leave unknown): ``get_shape`` gives ``beam_in`` as a
        # number, so the assumed index ``beam_in - 1`` is a Python int, and ``beam_search`` asks for its
        # ``shape``
        return (f"AttributeError: 'int' object has no attribute 'shape' (beam_search with cheating: {node}'s "
                f"base search choices are {other}'s, of this frame, whose beam size is a number)")
    scope, _, local = node.rpartition("/")
    own_prev = f"{scope}/prev:{local}" if scope else f"prev:{local}"
    if len(chain) < 3 or chain[2].name != own_prev:
        return (f"AssertionError: the base search choices of {node!r} are {other!r}, which does not "
                f"cheat and was not chosen from {own_prev!r}: Expected that this is self from prev frame.")
    return None


@rule('SG166', "choice's source beam is not its base search choices' beam",
      "{layer} searches over scores on the beam {beam} (size {size}), but its base search choices, the "
      "search choices it extends, are {base}'s (size {base_size}): RETURNN finds those along every "
      "dependency, and the scores' beam came another way (e.g. a value accumulated over a loop's frames "
      "is on the beam of the loop's output layer, while the rec layer's search choices are the frame's "
      "last choice). ChoiceLayer asserts the two beam sizes are equal.",
      "Let {layer}'s scores come from the layer whose search choices it extends: read the loop's last "
      "choice (or decide the loop first), or give the choices of the loop the same beam size.")
def choice_source_beam_off_base(c: Construction) -> dict[str, Raised]:
    """``ChoiceLayer.__init__`` in search (not regression): ``beam_in = self.sources[0].output.beam.beam_size``
    must equal ``base_search_choices.beam_size``, those of ``self.search_choices.src_layer``
    (``get_search_choices(base_search_choice=self)``)."""
    out: dict[str, Raised] = {}
    if not c.search:
        return out
    for node in c.order:
        data = c.nodes[node]
        if data["class"] != "choice" or not c.is_search_choice(node) or node in c.unbuilt \
                or data["options"].get("input_type") == "regression":
            continue
        srcs = c.sources(node)
        chosen = c.chosen(node)
        if not srcs or chosen is None or chosen.dependency is None:
            continue
        beam = c.input_beam(srcs[0][0], srcs[0][1], node)
        base = chosen.dependency
        # (only a base of the current frame or of another net: a previous frame's beam in a loop, and a
        # choice's own earlier frame, come with the loop's shape invariants, not modelled here)
        if beam is None or beam.size == base.size or base.is_prev_frame or base.name == node:
            continue
        message = (f"AssertionError: {node}: source {srcs[0][0]} beam-size unexpected from base choice "
                   f"{base.name} ({beam.size} != {base.size})")
        out[node] = Raised(message, names={"beam": beam.name, "size": str(beam.size), "base": base.name,
                                           "base_size": str(base.size)})
    return out


@rule('SG111', 'choice outside a loop',
      '{layer} searches outside any rec loop: it needs a beamed input as its base choice and cannot use '
      'length normalisation there.',
      "Move the choice into a rec loop, or feed it from a beamed layer and set 'length_normalization': "
      'False.')
def choice_outside_loop(c: Construction) -> dict[str, str]:
    """A searching choice outside any loop needs a beamed input (its base choice) and no length
    normalisation (which needs the loop's step info)."""
    out = {}
    for node in c.order:
        data = c.nodes[node]
        if data["class"] != "choice" or c.rec_of(node) is not None or not c.is_search_choice(node):
            continue
        if all(c.input_beam(s, f, node) is None for s, _, f in c.inputs(node)):
            out[node] = ("AssertionError: Not implemented yet. In rec-layer, we would always have our "
                         "prev-frame as one previous search choice. Our deps: no beamed input")
        elif data["options"].get("length_normalization", True) and \
                data["options"].get("input_type") != "regression":  # regression: no scores to normalise
            out[node] = ("AssertionError: length normalization needs the rec step info, which exists "
                         "only inside a loop (set length_normalization: False)")
    return out


@rule('SG163', 'choice finds no earlier search choice',
      "{layer} searches in a loop on scores that carry a beam, but none of its dependencies leads to a "
      'search choice: the beam reaches its scores only through a layer that keeps its inputs out of its '
      "dependencies (a 'cond' whose branches read the previous frame), so the choice has no previous "
      'beam scores to extend.',
      "Feed the scores (or {layer} itself, via 'explicit_search_sources') a layer of the previous frame "
      "through 'from', e.g. the embedding of 'prev:output', outside the cond.")
def choice_without_source_choices(c: Construction) -> dict[str, str]:
    """``ChoiceLayer.__init__`` in search: ``self.search_choices.src_layer`` (and, for a ``search: False``
    choice that adds its scores to the beam, ``get_search_choices(base_search_choice=self)``) is
    ``TFNetwork.get_search_choices(base_search_choice=self)``, the walk over ``get_dep_layers``, which
    must find the previous choice ("Not implemented yet. In rec-layer, we would always have our
    prev-frame as one previous search choice"). Its own previous frame joins the dependencies only when
    no source has a beam (PR #1213); a beam that comes through a layer's options only (a ``cond``'s
    branches, :data:`searchgraph.analysis.passes._CHOICES_BLIND`) gives scores with a beam and a walk
    that finds nothing."""
    out: dict[str, str] = {}
    if not c.search:
        return out
    for node in c.order:
        data = c.nodes[node]
        if data["class"] != "choice" or node in c.unbuilt or data["options"].get("input_type") == "regression":
            continue
        srcs = c.sources(node)
        chosen = c.chosen(node)
        if chosen is None or chosen.dependency is not None or not srcs:
            continue
        if c.is_search_choice(node):
            if c.rec_of(node) is None or c.placement(node) != "loop" or \
                    all(c.input_beam(s, f, node) is None for s, f in srcs):
                continue  # outside a loop: SG111's; no beamed source: its own previous frame is one (PR #1213)
            deps = ", ".join(s for s, _ in srcs)
            out[node] = ("AssertionError: Not implemented yet. In rec-layer, we would always have our "
                         f"prev-frame as one previous search choice. Our deps: [{deps}]")
        elif data["options"].get("add_to_beam_scores", True) is not False and \
                c.input_beam(*srcs[0], node) is not None:
            # ``search: False`` adding its scores to the beam: ``get_search_choices(base_search_choice=self)``
            # is None, and its ``.search_choices`` fails
            out[node] = "AttributeError: 'NoneType' object has no attribute 'search_choices'"
    return out


@rule('SG124', "choice not on its loop's previous frame",
      "{layer} searches in a loop that ends by its 'end' layer, but its input's search choices do not come "
      "from this loop's previous frame (e.g. only another decoder's beam): with length normalisation the "
      "choice selects 'prev:end' into its base search choices, and there is no common search base.",
      "Feed {layer} (or the layers its scores come from) a value of this loop's previous frame, e.g. the "
      "embedding of 'prev:output', or 'decide' the other decoder before reading it.")
def choice_off_own_prev_frame(c: Construction) -> dict[str, str]:
    """``ChoiceLayer.__init__`` with length normalisation asks ``RecStepInfoLayer.get_prev_end_flag``
    for the previous frame's end flags in its base search choices: ``prev:end``, on this loop's
    previous choice, is translated (``translate_to_this_search_beam``) into the base choices, which
    must have that previous frame in their chain (``SelectSearchSourcesLayer``: "No common search
    base")."""
    out: dict[str, str] = {}
    for node in c.order:
        data = c.nodes[node]
        rec = c.rec_of(node)
        if data["class"] != "choice" or rec is None or data["unit"] != rec or not c.is_search_choice(node) \
                or not data["options"].get("length_normalization", True) or c.known_length(rec):
            continue
        end = f"{rec}/end"
        beam = c.beam(node)  # the choice's own beam, on its translated inputs' beam
        if end not in c.built or c.placement(end) != "loop" or beam is None or beam.name != node \
                or data["options"].get("input_type") == "regression":
            continue
        base = beam.walk()[1:]
        if base and not any(b.is_prev_frame and b.name.startswith(rec + "/") for b in base):
            out[node] = (f"AssertionError: <SelectSearchSourcesLayer 'prev:end' <SearchChoices owner="
                         f"{base[0].name!r}>>: No common search base: from layer {rec}/prev:end, to "
                         f"search choices {base[0]}")
    return out


@rule('SG112', 'search: False choice without a matching beam',
      '{layer} has search: False, so in a search network it only adds its scores to an existing beam of '
      'the same size; otherwise RETURNN falls back to its target, which search does not provide.',
      'Remove search: False, or make its source carry a beam of the same beam_size.')
def non_search_choice_without_beam(c: Construction) -> dict[str, str]:
    """A ``search: False`` choice in a searching loop adds its scores to the source's beam: without
    a beamed source, or with another beam size, RETURNN falls back to reading its target."""
    out = {}
    for node in c.order:
        data = c.nodes[node]
        if data["class"] != "choice" or c.rec_of(node) is None or not c.search \
                or c.is_search_choice(node) or data["options"].get("input_type") == "regression":
            continue
        if not any(o == "from" for _, o, _ in c.inputs(node)):
            continue  # ``transform_config_dict`` emptied its ``from``: the target alone, moved out of the loop
        first = next((c.input_beam(s, f, node) for s, o, f in c.inputs(node) if o == "from"), None)
        size = int(data["options"].get("beam_size", 1) or 1)
        target = data["options"].get("target")
        target = target[0] if isinstance(target, list) and target else target
        if first is None or first.size != size:
            why = "no beamed source" if first is None else f"beam size {size} != source's {first.size}"
            out[node] = (f"LayerNotFound: layer {target!r} not found ({why}: the choice falls back to "
                         "its target, which search does not provide)")
    return out


@rule('SG118', 'choice input does not fit the choice',
      "In search, RETURNN's ChoiceLayer asserts that its first source holds scores over the target's "
      "vocabulary: not sparse, one feature axis of the target's dim and no other axis, and for input_type "
      "'prob' a tensor it can take the log of; its output template is its target's, which must be labels; "
      "{layer}'s first source is sparse, has another dim, carries "
      "a whole sequence read into the loop, is a prev: value scored as 'prob', or has no batch axis (computed "
      "only from the loop's own previous frames), or its target is dense or a layer with a time axis read "
      "whole into the loop (layer:base:X); with several sources, one has "
      "fewer labels than the beam it is pruned to first (source_beam_sizes, default the beam size), or "
      "source_beam_sizes does not give one size per source.",
      'Feed {layer} a softmax / log-softmax over the target vocabulary computed in the frame (n_out = the '
      "target's dim); read sequences from outside the loop only through attention; to score a prev: "
      "value, make it log-probabilities and set input_type 'log_prob'; compute the scores from the frame's "
      "state (which reads the previous choice or the encoder); give source_beam_sizes one entry per source "
      "('from'), each no larger than that source's vocabulary.")
def choice_input_shape(c: Construction) -> dict[str, str]:
    """``ChoiceLayer.__init__`` in search: ``not source.output.sparse``, ``sources[0].output.dim ==
    output.dim`` (the target's dim) and ``sources[0].output.shape == (dim,)``."""
    out = {}
    if not c.search:
        return out
    shapes = c.derived(Shapes)
    for node in c.order:
        data = c.nodes[node]
        if data["class"] != "choice" or not c.is_search_choice(node):
            continue
        # a regression choice passes the same asserts (not sparse, the target's dim, one axis); it
        # takes no log and predicts dense frames
        regression = data["options"].get("input_type") == "regression"
        srcs = c.sources(node)
        if not srcs:
            continue
        src = srcs[0][0]
        rec = c.rec_of(node)
        why = None
        dense_target = None if regression else _dense_target(c, shapes, node)
        if dense_target is not None:
            # ChoiceLayer.get_out_data_from_opts copies the target's template: labels (batch,) do
            # not fit a dense target's (batch, dim) (``Tensor.raw_tensor``'s ndim assertion)
            why = f"the target {dense_target!r} is dense, its template has a feature axis the labels lack"
        elif rec is not None and not regression and (whole := _whole_sequence_target(c, shapes, node, rec)):
            why = whole
        elif any(shapes.sparse(s) is True for s, _ in srcs):
            bad = next(s for s, _ in srcs if shapes.sparse(s) is True)
            why = f"{bad} is sparse (labels, not scores)"
        elif rec is None and shapes.root_time(src) is True:
            # outside a loop the scores must be one frame per sequence too (``shape == (dim,)``)
            why = f"{src} has a time axis (a whole sequence), not one frame of scores"
        elif rec is not None and srcs[0][1] == "prev" and data["options"].get("input_type", "prob") == "prob" \
                and not regression:
            # safe_log -> check_base_op_type_and_replace asserts its tensor is its op's first output;
            # a prev: value is one of the loop's state tensors
            why = f"prev:{c.nodes[src]['local']} is a loop state, not a softmax whose log can be taken"
        elif data["options"].get("input_type", "prob") == "prob" and not regression \
                and _later_split_part(c, src):
            # safe_log -> check_base_op_type_and_replace: a split part after the first is not its
            # op's first output (``Split:i``)
            why = f"{src} is a later output of a split op, not a softmax whose log can be taken"
        elif all(not c.batched(s) for s, _ in srcs):
            # ChoiceLayer._get_scores: ``source.output.is_batch_major`` (a variable, a constant, the
            # frame index: no batch axis at all)
            why = f"{src} has no batch axis (computed only from variables, constants or the frame index)"
        elif rec is not None and c.placement(src) == "loop" and shapes.batchless(src):
            # ChoiceLayer._get_scores: ``source.output.is_batch_major``
            why = (f"{src} has no batch axis: its template is computed only from the loop's own previous "
                   "frames, which start as a dummy without batch axis (and from variables or constants)")
        elif (wide := shapes.broadcast_axis(src)) is not None:
            # ChoiceLayer: scores of one frame per hypothesis, (batch, dim)
            why = (f"{src} has an extra axis: {wide} adds feature axes of different sizes element-wise, "
                   "which RETURNN broadcasts against each other")
        elif not regression and (moved := _batch_not_first(c, src, srcs[0][1], node)) is not None:
            why = moved  # (a regression choice takes its source as it is, without ``_get_scores``)
        elif rec is not None and c.placement(node) == "loop" and any(
                shapes.read_time(s, f, node, rec) for s, f in srcs):
            bad = next(s for s, f in srcs if shapes.read_time(s, f, node, rec))
            why = f"{bad} has an extra time axis (a whole sequence read into the loop)"
        elif rec is not None and not regression and c.rec_of(src) == rec \
                and (extra := _frame_axes_at_least(c, src, rec)) > 2:
            # ChoiceLayer: ``sources[0].output.shape == (dim,)``: a frame of scores per hypothesis
            layout = c.loop_layout(src)
            whence = (f"its time axis {layout.tag!r} comes from an input over a whole sequence (a base: layer, "
                      "or a loop state kept over one)" if layout is not None and layout.time is not None
                      and layout.tag else
                      "a source of it keeps an axis it added (an expand_dims, a window over the previous frames, a "
                      "concat of such values)")
            why = f"{src} has {extra - 2} more axis in the frame than (batch, dim): {whence}"
        elif shapes.has_feature_axis(src) is False and len(srcs) == 1 and rec is not None \
                and shapes.frame_time(src, rec) is False and shapes.loop_dims(src, rec) == frozenset():
            # ChoiceLayer: ``sources[0].output.shape == (dim,)``: labels, a flag or a value per hypothesis
            # (an argmax, a gather along F) are no scores over the labels
            why = f"{src} has no feature axis (one value per hypothesis), not scores over the labels"
        else:
            want, have = shapes.target_dim(node), shapes.dim(src)
            if data["options"].get("target") and want is not None and have is not None and want != have:
                why = f"{src} has feature dim {have}, the target {data['options']['target']!r} has {want}"
        if why:
            out[node] = f"AssertionError: (ChoiceLayer in search: {why})"
        elif not regression and len(srcs) > 1 and (pruned := _pruned_source(shapes, data["options"], srcs)):
            out[node] = pruned
        elif rec is not None and not regression and (typed := _ended_scores_dtype(c, src, data["options"])) is not None:
            out[node] = typed
    out.update(_scores_added_to_beam(c, shapes))
    return out


#: classes whose template has every axis of its sources (``get_concat_sources_data_template`` /
#: ``Data.get_common_data``): at least as many as the source with the most
_UNION_AXES = frozenset({"linear", "softmax", "activation", "copy", "dropout", "layer_norm", "combine", "cast",
                         "concat", "eval"})


def _frame_axes_at_least(c: Construction, node: str, rec: str) -> int:
    """A lower bound of the number of axes (batch included) of a loop layer's frame: as the loop builds
    it where that is known (:meth:`Construction.loop_layout`), else the most of its sources' for classes
    that keep every axis of their sources (a ``concat`` joins along one axis: as many as each); a layer
    outside the loop counts whole; 0 where nothing is known. The most over every layer that ends such a
    walk back from ``node`` (one walk over the reachable layers, each met once)."""
    best, seen, todo = 0, {node}, [node]
    while todo:
        at = todo.pop()
        value, sources = _frame_axes_here(c, at, rec)
        best = max(best, value)
        for src in sources:
            if src not in seen:
                seen.add(src)
                todo.append(src)
    return best


def _frame_axes_here(c: Construction, node: str, rec: str) -> tuple[int, list[str]]:
    """``node``'s own count of frame axes where it ends the walk of :func:`_frame_axes_at_least`, else 0
    and the sources the walk goes on to."""
    if c.rec_of(node) is None:  # a layer outside the loop, read whole (``base:``; its caller checks)
        root = c.root_layout(node)
        return (root.ndim if root is not None else 0), []
    if c.rec_of(node) != rec or c.placement(node) != "loop":
        return 0, []
    layout = c.loop_layout(node)  # as the loop really builds it (a template can keep stale axes)
    if layout is not None:
        return layout.ndim, []
    data = c.nodes[node]
    if data["node_kind"] == "layer" and data["class"] == "window" and not data["options"].get("out_type"):
        # ``WindowLayer`` in the loop: the window of the previous frames is a new axis of the frame, in front
        # of its source's (batch, feature)
        srcs = [src for src, form in c.sources(node) if form != "data" and (form == "base" or c.rec_of(src) == rec)]
        return 3, srcs
    if data["node_kind"] != "layer" or data["class"] not in _UNION_AXES or data["options"].get("out_type"):
        return 0, []
    return 0, [src for src, form in c.sources(node) if form != "data" and (form == "base" or c.rec_of(src) == rec)]


def _scores_added_to_beam(c: Construction, shapes: Shapes) -> dict[str, str]:
    """A ``search: False`` choice on a beamed source in a search network adds its scores to the beam
    (``ChoiceLayer.__init__``, ``add_to_beam_scores``, default on in search): ``_get_scores`` asserts a
    batch-major source and takes the log of a ``prob`` input, and in a loop ``filter_ended_scores``
    sets the scores' shape to (batch * beam, dim), so they may carry no other axis."""
    out = {}
    for node in c.order:
        data = c.nodes[node]
        opts = data["options"]
        if data["class"] != "choice" or c.is_search_choice(node) or opts.get("input_type") == "regression" \
                or opts.get("add_to_beam_scores", True) is False or opts.get("scheduled_sampling"):
            continue
        srcs = [(s, f) for s, o, f in c.inputs(node) if o == "from"]
        if len(srcs) != 1 or c.input_beam(srcs[0][0], srcs[0][1], node) is None:
            continue  # several sources: RETURNN asserts one; none beamed: SG112's case
        src, form = srcs[0]
        rec = c.rec_of(node)
        kind, why = "AssertionError", None
        if rec is not None and c.placement(src) == "loop" and shapes.batchless(src):
            why = f"{src} has no batch axis (_get_scores asserts batch-major scores)"
        elif (moved := _batch_not_first(c, src, form, node)) is not None:
            why = f"{moved} (_get_scores asserts batch-major scores)"
        elif rec is not None and form == "prev" and opts.get("input_type", "prob") == "prob":
            why = f"prev:{c.nodes[src]['local']} is a loop state, not a softmax whose log can be taken"
        elif rec is not None and c.placement(node) == "loop" \
                and (wide := shapes.broadcast_axis(src)) is not None:
            kind, why = "ValueError", (f"{src} has an extra axis: {wide} adds feature axes of different sizes "
                                       "element-wise, which RETURNN broadcasts against each other")
        elif rec is not None and c.placement(node) == "loop" and shapes.read_time(src, form, node, rec):
            kind, why = "ValueError", f"{src} has an extra time axis (a whole sequence read into the loop)"
        elif rec is not None and (typed := _ended_scores_dtype(c, src, opts)) is not None:
            out[node] = typed
            continue
        if why:
            out[node] = (f"{kind}: (ChoiceLayer with search False adds its scores to the beam, as "
                         f"(batch * beam, dim) scores: {why})")
    return out


def _batch_not_first(c: Construction, src: str, form: str, node: str) -> str | None:
    """Why the choice's scores are not batch-major (``ChoiceLayer._get_scores``: ``assert
    source.output.is_batch_major``): their template moves the batch axis away from the front (a
    ``swap_axes`` / ``transpose`` of ``B`` with another axis); None when they are, or unsure."""
    rec = c.rec_of(node)
    if form == "prev":
        layout = c.frame_layout(src)
    elif rec is not None and c.rec_of(src) == rec and c.placement(src) == "loop":
        layout = c.loop_layout(src)
    elif c.rec_of(src) is None:
        layout = c.root_layout(src)
    else:
        layout = None
    if layout is None:
        moved = _batch_moved_by(c, src)
        if moved is not None:
            return (f"{src} is not batch-major: {moved} moves the batch axis away from the front, and "
                    f"{src} keeps its axes")
        return None
    if layout.batch in (None, 0):
        return None
    return (f"{src} is not batch-major: its batch axis is axis {layout.batch} of its template (a swap_axes "
            "/ transpose of the batch axis, or a time-major template)")


#: classes whose template is their one source's with the feature axis kept or replaced in place
_AXES_KEPT = frozenset({"softmax", "activation", "copy", "dropout", "linear", "cast", "layer_norm", "eval",
                        "combine", "scaled_grad", "print", "identity"})


def _batch_moved_by(c: Construction, node: str) -> str | None:
    """A ``swap_axes`` / ``transpose`` of the batch axis with another axis of a batched layer that
    ``node`` is computed from through layers that keep their one source's axes (a softmax of it);
    None when there is none, or when that is unsure."""
    seen: set[str] = set()
    while node not in seen:
        seen.add(node)
        data = c.nodes[node]
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        srcs = c.sources(node)
        if cls in ("swap_axes", "transpose"):
            if len(srcs) != 1 or not c.batched(srcs[0][0]):
                return None
            if cls == "swap_axes":
                pair = [opts.get("axis1"), opts.get("axis2")]
                named = [a for a in pair if isinstance(a, str)]
                batch = [a for a in named if names_batch(a)]
                return f"{node} (swap_axes {pair[0]}<->{pair[1]})" if len(named) == 2 and len(batch) == 1 \
                    else None
            perm = opts.get("perm")
            if not isinstance(perm, dict):
                return None
            moved = [(t, f) for t, f in perm.items() if isinstance(t, str) and isinstance(f, str)
                     and names_batch(t) != names_batch(f)]
            return f"{node} (transpose {perm})" if moved else None
        # the layers walked through: one that keeps its source's axes (without an ``axis``), or one that
        # works on one named axis other than the batch axis
        keeps_all = cls in _AXES_KEPT and not opts.get("axis")
        on_other_axis = cls in _OTHER_AXIS_OPS and isinstance(opts.get("axis"), str) \
            and not names_batch(opts["axis"])
        if not (keeps_all or on_other_axis):
            return None
        if len(srcs) != 1 or opts.get("out_type") or len(c.inputs(node)) != 1 or srcs[0][1] == "prev":
            return None
        node = srcs[0][0]
    return None


#: classes that work on one named axis of their source and leave the others where they are (a batch axis
#: moved away from the front stays there)
_OTHER_AXIS_OPS = frozenset({"slice", "pad", "reduce", "expand_dims", "squeeze", "split_dims", "softmax_over_spatial"})


#: classes whose output has their (first) source's dtype
_DTYPE_KEPT = frozenset({"copy", "activation", "combine", "eval", "scaled_grad", "reinterpret_data", "dropout",
                         "softmax_over_spatial", "print", "identity", "layer_norm"})


def _float_dtype(c: Construction, node: str) -> str | None:
    """The dtype of a layer's output where the network says it: a ``cast``'s ``dtype``, ``float32`` for
    ``linear`` / ``softmax``, and through layers that keep their source's dtype; None when unsure."""
    seen: set[str] = set()
    while node not in seen:
        seen.add(node)
        data = c.nodes[node]
        if data["node_kind"] != "layer":
            return None
        cls, opts = data["class"], data["options"]
        if cls == "cast":
            return opts.get("dtype") if isinstance(opts.get("dtype"), str) else None
        if cls in ("linear", "softmax"):
            return "float32"
        srcs = c.sources(node)
        if cls not in _DTYPE_KEPT or opts.get("out_type") or not srcs:
            return None
        node = srcs[0][0]
    return None


def _ended_scores_dtype(c: Construction, src: str, opts: dict) -> str | None:
    """RETURNN's message when a loop choice's scores are not float32: ``filter_ended_scores`` (rec.py,
    in a loop: the scores of ended hypotheses) selects between a float32 filter and the scores
    (``where_bc``), which TensorFlow rejects for another float dtype. Scores taken as ``log_prob`` are
    used as they are, ``logits`` through a ``log_softmax`` of their dtype; ``prob`` scores go through
    ``safe_log``, which RETURNN's answers show keeps a cast layer's value out of the way (its log is
    float32 there), and takes the log of any other value in its dtype (measured: fresh38)."""
    if opts.get("input_type", "prob") not in ("log_prob", "logits") and c.nodes[src]["class"] == "cast":
        return None
    dtype = _float_dtype(c, src)
    if dtype is None or dtype == "float32" or not dtype.startswith(("float", "bfloat")):
        return None
    return (f"TypeError: Input 'e' of 'SelectV2' Op has type {dtype} that does not match type float32 of "
            f"argument 't'. (ChoiceLayer.__init__: filter_ended_scores of {src}'s {dtype} scores)")


def _pruned_source(shapes: Shapes, opts: dict, srcs: list[tuple[str, str]]) -> str | None:
    """``ChoiceLayer._prune_and_combine_sources``: with several sources each is pruned first with
    ``tf.nn.top_k`` to its ``source_beam_sizes`` entry (default: the beam size), which needs at least
    that many labels."""
    sizes = opts.get("source_beam_sizes") or [opts.get("beam_size")] * len(srcs)
    if not isinstance(sizes, (list, tuple)):
        return None
    if len(sizes) != len(srcs):
        # (``assert len(source_beam_sizes) == len(self.sources)`` before any pruning)
        return (f"AssertionError: Provide exactly one beam size per source. (source_beam_sizes has {len(sizes)} "
                f"entries for the {len(srcs)} sources of the choice, ChoiceLayer.__init__)")
    for (src, _), k in zip(srcs, sizes):
        dim = shapes.dim(src)
        if isinstance(k, int) and dim is not None and dim < k:
            return (f"ValueError: input must have last dimension >= k = {k} but is {dim} "
                    f"(top_k pruning source {src} of several, ChoiceLayer._prune_and_combine_sources)")
    return None


def _later_split_part(c: Construction, node: str) -> bool:
    """A ``split`` layer's part other than the first (``split/1``, ...): its tensor is output ``i``
    of a TF ``Split`` op."""
    if c.nodes[node]["node_kind"] != "sub":
        return False
    parent = next(iter(c.graph.predecessors(node)), None)
    part = node.rsplit("/", 1)[-1]
    return parent is not None and c.nodes[parent]["class"] == "split" and part.isdigit() and int(part) > 0


def _whole_sequence_target(c: Construction, shapes: Shapes, node: str, rec: str) -> str | None:
    """A loop choice whose target is a layer outside the loop with a time axis (``layer:base:X``): the
    rec layer gives the loop its target data one frame at a time, a target layer comes whole, and
    ``ChoiceLayer.get_out_data_from_opts`` copies its template, time axis included (so do the scores'
    layers that guess their dim from it): the labels of one frame do not fit it."""
    layer, _ = shapes.target_of(node)
    if layer is None or c.rec_of(layer) == rec or rec in c.recs_of(layer):
        return None
    if shapes.root_time(layer) is not True:
        return None
    return (f"its target is the layer {layer}, a whole sequence (time axis) read into the loop, whose "
            "template the choice's output copies")


def _dense_target(c: Construction, shapes: Shapes, node: str) -> str | None:
    """The choice's target when it is known to be dense (extern data declared without a sparse dim,
    or a layer whose output is not labels): a searching choice's output template is its target's."""
    target = c.nodes[node]["options"].get("target")
    if not isinstance(target, str):  # several targets: one per source, checked elsewhere
        return None
    layer, ext = shapes.target_of(node)
    dense = shapes.sparse(layer) is False if layer is not None else ext is not None and not ext["sparse"]
    return target if dense else None


@rule('SG155', "choice's out_dim is not its labels' dim",
      "{layer} declares out_dim {declared}, but a choice's labels are always over {have} ({why}); "
      "LayerBase.__init__ asserts that a declared out_dim is a dim of the output ('out_dim handling not "
      "implemented correctly for this layer').",
      "Drop the choice's out_dim, or declare it as {have} (the same declaration).")
def choice_out_dim(c: Construction) -> dict[str, Raised]:
    """``ChoiceLayer.get_out_data_from_opts`` takes no ``out_dim``: with a target the labels are the target's
    (its ``sparse_dim``), without one the first source's feature dim; ``LayerBase.__init__`` asserts
    ``out_dim in self.output.dim_tags_set_implicit``. A dim declared in JSON is one object per declaration
    (the same dict), so another declaration, even of the same size, is another dim."""
    out: dict[str, Raised] = {}
    extern = c.spec.extern_data or {}
    for node in c.order:
        data = c.nodes[node]
        declared = data["options"].get("out_dim") if data["class"] == "choice" else None
        if not isinstance(declared, dict) or "__dim__" not in declared:
            continue
        target = data["options"].get("target")
        target = target[0] if isinstance(target, list) and target else target
        if isinstance(target, str) and target and not target.startswith("layer:"):
            key = target.removeprefix("data:")
            ext = extern.get(key)
            if not isinstance(ext, dict):
                if key not in (getattr(c.spec, "num_outputs", None) or {}):
                    continue
                ext = {}  # ``num_outputs``: RETURNN makes the target's sparse dim itself
            have = ext.get("sparse_dim")
            why = f"those of its target {target!r}"
        elif not target:
            sources = [s for s, option, form in c.inputs(node) if option == "from" and form in ("from", "data")]
            if not sources or c.nodes[sources[0]]["class"] not in ("linear", "softmax"):
                continue
            have = c.nodes[sources[0]]["options"].get("out_dim")
            why = f"the feature dim of its scores {sources[0]}"
        else:
            continue
        if have == declared:
            continue
        name = declared["__dim__"].get("description", "?")
        have_name = have["__dim__"].get("description", "?") if isinstance(have, dict) and "__dim__" in have \
            else "a dim RETURNN made itself"
        out[node] = Raised(f"AssertionError: ({node}: out_dim {name!r} is not in the output's dims, whose labels "
                           f"are over {have_name!r}: out_dim handling not implemented correctly for this layer)",
                           names={"declared": repr(name), "have": repr(have_name), "why": why})
    return out
