"""Checks: what a layer reads by name that search does not give it.

Layer names, targets included, are looked up while RETURNN makes the templates
(``transform_config_dict``: ``LayerNotFound``); extern data read by name inside a decoder loop is the
whole sequence in search (only the loop's own input is sliced per frame).
"""

from __future__ import annotations

from ..analysis.construction import Construction
from .registry import Raised, rule
from .shapes import Shapes, one_frame_of_loop_input


@rule('SG116', 'extern data read inside the search loop',
      'Inside the loop, search does not slice this data per frame (trains fine, search breaks): {layer} '
      'gets the whole sequence.',
      "Do not read targets or extern data inside the decoder loop in search; use the choice's output "
      'instead.')
def data_read_in_loop(c: Construction) -> dict[str, str]:
    """In search, ``data:<key>`` inside a loop that does not run over that data is the whole
    sequence, not a frame: the extra time axis reaches the choice, which asserts its input shape."""
    out = {}
    for node in c.order:
        rec = c.rec_of(node)
        if rec is None or not c.is_search_choice(node):
            continue
        reader = _frame_ancestor_reading_data(c, node, rec, set())
        if reader:
            out[node] = (f"AssertionError: the choice's input has an extra time axis: {reader} reads "
                         "extern data inside the loop, which search does not slice per frame")
    return out


def _frame_ancestor_reading_data(c: Construction, node: str, rec: str, seen: set[str]) -> str | None:
    if node in seen:
        return None
    seen.add(node)
    for src, _, form, _ in c.nodes[node].get("inputs", []):
        if form == "data" and c.nodes[src]["node_kind"] == "data" and \
                c.edge(src, node)["ref"] not in ("data", "data:source") and \
                not one_frame_of_loop_input(c, node, rec, src):
            return node
        if form != "prev" and c.rec_of(src) == rec and c.placement(src) in ("loop", "input"):
            found = _frame_ancestor_reading_data(c, src, rec, seen)
            if found:
                return found
    return None


@rule("SG117", "reference to a layer that does not exist",
      "{layer} reads {name!r}, which is neither a layer of its network nor available in search (targets "
      "are not layers there).",
      "Fix the name, or use the 'data:{name}' form where the data exists.")
def missing_layer(c: Construction) -> dict[str, Raised]:
    """A reference to no layer (the graph builder keeps it as a ``missing`` node): ``LayerNotFound``."""
    out: dict[str, Raised] = {}
    for node in c.order if c.graph.graph.get("missing") else ():
        for src, _, _, _ in c.nodes[node].get("inputs", []):
            if c.nodes[src]["node_kind"] == "missing" and node not in out:
                name = c.nodes[src]["local"]
                out[node] = Raised(f"LayerNotFound: layer {name!r} not found (searched from {node})",
                                   names={"name": name})
    return out


#: classes RETURNN uses inside its construction but registers under no name a config can use (their
#: ``layer_class`` is unset): ``get_layer_class`` raises for them
INTERNAL_CLASSES = {"select_search_sources": "SelectSearchSourcesLayer (RETURNN inserts it to translate a "
                                             "value into another beam)",
                    "rec_step_info": "RecStepInfoLayer (the frame index, which a loop reads as ':i')"}


@rule("SG144", "layer class only RETURNN itself can create",
      "{layer} has class {cls!r}: that is {what}, which RETURNN creates itself and registers under no "
      "class name, so a config cannot name it (get_layer_class: unknown layer class).",
      "{hint}")
def internal_class(c: Construction) -> dict[str, Raised]:
    """A layer whose class is one of RETURNN's internal ones (:data:`INTERNAL_CLASSES`)."""
    out: dict[str, Raised] = {}
    for node, data in c.nodes.items():
        cls = data["class"]
        if data["node_kind"] == "layer" and cls in INTERNAL_CLASSES:
            hint = ("Read ':i' for the frame index." if cls == "rec_step_info" else
                    "Leave it out: RETURNN translates every input into the layer's common beam by itself; "
                    "to keep a value on a choice's beam use 'decide_keep_beam', to read raw beam data "
                    "'choice_get_src_beams' / 'choice_get_beam_scores'.")
            out[node] = Raised(f"Exception: unknown layer class {cls!r}",
                               names={"cls": cls, "what": INTERNAL_CLASSES[cls], "hint": hint})
    return out


#: classes that keep their first source's dim and get the dim RETURNN guesses from a ``target`` as
#: ``n_out``, which ``LayerBase.__init__`` asserts (``linear`` and ``softmax`` take it as their
#: ``out_dim`` instead; ``CopyLayer.get_out_data_from_opts`` overwrites its template's dim with it, so
#: ``copy`` and ``dropout`` build, and so do ``scaled_grad`` and ``batch_norm``; checked against RETURNN:
#: ``scripts/probe_n_out.py``)
_N_OUT_FROM_TARGET = frozenset({"activation", "combine", "layer_norm", "compare", "softmax_over_spatial",
                                "decide", "reduce", "eval", "split_batch_beam", "decide_keep_beam",
                                "reinterpret_data", "cumsum", "window", "shift_axis", "postfix_in_time",
                                "prefix_in_time", "seq_len_mask", "print", "expand_dims", "time_chunking",
                                "slice", "pool", "split_dims", "switch"})


@rule("SG130", "n_out guessed from the target does not fit the layer",
      "{layer} has a target and no n_out: RETURNN guesses n_out from the target's dim ({want}), and the "
      "layer's output keeps its input's dim ({have}).",
      "Drop the target (and loss) from {layer}, or point it at data of the layer's dim.")
def n_out_from_target(c: Construction) -> dict[str, Raised]:
    """``LayerBase.transform_config_dict``: without ``n_out`` / ``out_dim``, ``n_out`` is the target's
    dim (``_guess_out_dim_from_target_and_opt_loss``, +1 for a CTC loss); ``LayerBase.__init__``
    asserts ``self.output.dim == n_out``: a bare ``AssertionError`` on the layer."""
    out: dict[str, Raised] = {}
    shapes = c.derived(Shapes)
    for node in c.order:
        data = c.nodes[node]
        opts = data["options"]
        target = opts.get("target")
        target = target[0] if isinstance(target, list) and target else target
        if data["class"] not in _N_OUT_FROM_TARGET or not isinstance(target, str) or not target \
                or "n_out" in opts or "out_dim" in opts:
            continue
        want, have = shapes.target_dim(node), shapes.dim(node)
        ext = (c.spec.extern_data or {}).get(target.removeprefix("data:"))
        # extern data declared with ``dim: None``: its Dim has no size, so ``n_out`` is None
        declared_none = isinstance(ext, dict) and "dim" in ext and ext["dim"] is None and "dims" not in ext
        if want is not None and opts.get("loss") == "ctc":
            want += 1
        if have is None and want is not None and shapes.sparse(node) is False \
                and shapes.has_feature_axis(node) is False:
            # neither labels nor a feature axis (labels cast to float): its dim is None
            out[node] = Raised(f"AssertionError: (LayerBase.__init__: output dim None (no feature axis) != "
                               f"n_out {want} guessed from target {target!r})",
                               names={"want": want, "have": "none: no feature axis"})
        elif have is not None and (want is not None and want != have or want is None and declared_none):
            out[node] = Raised(f"AssertionError: (LayerBase.__init__: output dim {have} != n_out {want} "
                               f"guessed from target {target!r})", names={"want": want, "have": have})
    return out


#: RETURNN's message when a layer of the class is built for real on an input without data (a None
#: placeholder); measured with ``scripts/probe_availability.py``
_NO_DATA_MESSAGES = {
    "conv": "ValueError: None values not supported.",
    "pool": "ValueError: None values not supported.",
    "math_norm": "ValueError: None values not supported.",
    "stft": "ValueError: None values not supported.",
    "rec": "ValueError: None values not supported.",
    "gating": "ValueError: Tried to convert 'value' to a tensor and failed. Error: None values not supported.",
    "transposed_conv": "AttributeError: 'NoneType' object has no attribute 'get_shape'",
    "dot": "AttributeError: 'NoneType' object has no attribute 'get_shape'",
    "generic_attention": "AttributeError: 'NoneType' object has no attribute 'get_shape'",
    "range_in_axis": "AttributeError: 'NoneType' object has no attribute 'get_shape'",
    "reduce": "AttributeError: 'NoneType' object has no attribute 'dtype'",
    "get_last_hidden_state": "AssertionError: (GetLastHiddenStateLayer: its source, a DataNotAvailableLayer, "
                             "has no last hidden state)",
    "split_batch_beam": "AttributeError: 'NoneType' object has no attribute 'get_shape'",
    "choice_get_beam_scores": "AssertionError: (ChoiceGetBeamScoresLayer: its source, a DataNotAvailableLayer, "
                              "has no search choices)",
    "choice_get_src_beams": "AssertionError: (ChoiceGetSrcBeamsLayer: its source, a DataNotAvailableLayer, "
                            "has no search choices)",
}
#: classes that concatenate their sources first (``concat_sources``): with several sources, some with
#: data, TensorFlow's concat fails on the one without
_CONCAT_SOURCES = frozenset({"conv", "pool", "transposed_conv", "math_norm", "gating", "rec"})


@rule("SG132", "layer computes on data that search does not have",
      "In search, {input} is a DataNotAvailableLayer (a template, no data) because extern data {key!r} is "
      "not available for inference; {how}, so RETURNN builds {layer} for real on an input without data.",
      "If search has {key!r} (e.g. the text input of a TTS model), mark it 'available_for_inference': True "
      "in extern_data. If it is a training target, keep {local} out of the network search builds: "
      "'only_on_eval': True on the output / loss layers that need it, or build them only in training.")
def computes_without_data(c: Construction) -> dict[str, Raised]:
    """A layer whose class makes its own output template (``LayerClass.without_data == "fresh"``, e.g.
    ``conv``: ``get_out_data_from_opts`` builds a new ``Data`` without ``_post_init_output``) is
    available even when an input is not, so ``TFNetwork._create_layer`` builds it for real instead of a
    ``DataNotAvailableLayer``; so is a rec layer whose unit ``output`` is available. On an input that
    is a ``DataNotAvailableLayer`` with a template only (not the extern data itself, whose placeholder
    exists) its computation meets a None tensor."""
    out: dict[str, Raised] = {}
    for node in c.order:
        if node not in c.without_data:
            continue
        src, key = c.without_data[node]
        cls = c.nodes[node]["class"]
        if cls == "range_in_axis" and isinstance(c.nodes[node]["options"].get("axis"), dict):
            continue  # ``RangeInAxisLayer`` over a declared dim: its size (``get_dim_value``), not the input's data
        sources = [s for s, form in c.sources(node) if form != "prev"]
        with_data = [s not in c.unavailable for s in sources]
        if cls in _CONCAT_SOURCES and len(sources) > 1 and any(with_data):
            types = ", ".join("float32" if ok else "<NOT CONVERTIBLE TO TENSOR>" for ok in with_data)
            message = (f"TypeError: Tensors in list passed to 'values' of 'ConcatV2' Op have types [{types}] "
                       "that don't all match.")
        elif cls == "choice" and c.nodes[node]["options"].get("input_type", "prob") == "prob":
            # ``ChoiceLayer._get_scores``: ``safe_log`` of the scores' placeholder, None here
            message = "AssertionError: (ChoiceLayer._get_scores: safe_log of its scores, None: assert isinstance(x, tf.Tensor))"
        elif cls == "reduce" and c.rec_of(node):
            message = "ValueError: Tried to convert 'input' to a tensor and failed. Error: None values not supported."
        else:
            message = _NO_DATA_MESSAGES.get(cls, "ValueError: None values not supported.")
        if cls == "rec" and c.children(node):
            how = ("the unit output's template is available (so is the rec layer's), and the loop reads its "
                   "whole input")
        else:
            how = f"{cls} makes an output template of its own, which does not keep that flag"
        out[node] = Raised(message, names={"input": src, "key": key, "how": how})
    return out


@rule("SG158", "last frame of a sub-layer without need_last",
      "{layer} reads the last frame of {sub} (rec_last_output), but {sub} does not set need_last, so the rec "
      "layer keeps no last frame of it ({why}).",
      "Set 'need_last': True on {sub}, or read the whole sequence as the rec sub-layer 'REC/{sublocal}' "
      "(marked is_output_layer).")
def last_frame_without_need_last(c: Construction) -> dict[str, Raised]:
    """``RecLastOutputLayer.__init__``: ``cell.get_layer_last_frame(sub_layer_name)`` looks the name up in
    the cell's ``_last_frames``, which hold the layers with ``need_last`` only (``KeyError``); a name that
    is no layer of the unit already fails the template (``layer_data_templates[sub_layer_name]``)."""
    out: dict[str, Raised] = {}
    for node in c.order:
        data = c.nodes[node]
        if data["class"] != "rec_last_output":
            continue
        inner = c.accessed_sub_layer(node)
        if inner is None or c.nodes[inner.rsplit("/", 1)[0]]["class"] != "rec":
            continue
        if inner in c.nodes and c.nodes[inner]["options"].get("need_last"):
            continue
        sub = inner.rsplit("/", 1)[1]
        why = "it is no layer of the unit" if inner not in c.nodes else "need_last is not set"
        out[node] = Raised(f"KeyError: {sub!r}", names={"sub": inner, "sublocal": sub, "why": why})
    return out
