"""The per-class table: which options name layers, and how each class treats beams.

RETURNN resolves layer references in each class's ``transform_config_dict``; the table below is our
transcription of those methods (spec §1.3) plus the beam behaviour of the search-related classes
(spec §2, §5). Users declare their own classes with :func:`register_layer_class`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "BEAM_ROLES",
    "INITIAL_OUTPUT_KEYWORDS",
    "REC_STATE_CLASSES",
    "WITHOUT_DATA",
    "LayerClass",
    "RefOption",
    "get_layer_class",
    "is_known_class",
    "iter_option_refs",
    "known_classes",
    "register_layer_class",
    "unregister_layer_class",
]

#: How a class treats beams. ``generic``: output beam = combination of its dependencies' beams.
BEAM_ROLES = ("generic", "choice", "decide", "decide_keep_beam", "split_batch_beam",
              "choice_get_beam_scores", "choice_get_src_beams", "select_search_sources", "rec",
              "subnetwork", "masked_computation", "cond", "source", "step")

#: What a class' output template does with "not available for inference" (``without_data``). In
#: search, RETURNN builds a ``DataNotAvailableLayer`` (no data, a template only) for a layer whose
#: template lacks the flag; whether a template keeps the flag of its inputs depends on the class:
#:
#: * ``carries``: every input that lacks it takes it away (``LayerBase._post_init_output``, or a
#:   template made from all sources): a ``DataNotAvailableLayer``;
#: * ``copies``: the same, and the layer keeps its source's placeholder (a ``DataNotAvailableLayer``
#:   that still holds extern data's values when it reads the extern data itself);
#: * ``first``: the template is a copy of one source (``get_concat_sources_data_template``:
#:   ``Data.get_common_data``, the first source with the most axes): only that one's flag counts. Not
#:   knowing the ranks, the analysis counts the layer unavailable when any source is, but predicts no
#:   error from it unless its first source is unavailable;
#: * ``fresh``: the template is a new ``Data`` that is always available: RETURNN builds the layer for
#:   real, and it raises when an input has no data (a ``DataNotAvailableLayer`` other than extern data);
#: * ``fresh_sizes``: the same, but the layer reads only its input's sizes and builds without error.
#:
#: Measured with ``scripts/probe_availability.py`` (RETURNN builds one tiny search network per class).
WITHOUT_DATA = ("carries", "copies", "first", "fresh", "fresh_sizes")

#: ``initial_output`` / ``initial_state`` strings that are keywords, not layer names.
INITIAL_OUTPUT_KEYWORDS = frozenset(
    {"zeros", "ones", "var", "keep_over_epoch", "keep_over_epoch_no_init", "apply(0)", "placeholder"})


@dataclass(frozen=True)
class RefOption:
    """One option that may name layers.

    Attributes
    ----------
    name : the option key in the layer dict.
    shape : ``str`` (a name or not), ``list`` (names, or one name), ``nested`` (any nest of dicts
        and lists, keywords and numbers skipped), ``dict_values`` (a dict whose values are names),
        ``layer_dict`` (a name or an inline layer dict).
    dep : whether the layer also lists it in ``get_dep_layers`` (so beams and choices flow through it).
    """

    name: str
    shape: str = "str"
    dep: bool = True


@dataclass(frozen=True)
class LayerClass:
    """What searchgraph knows about one RETURNN layer class."""

    name: str
    refs: tuple[RefOption, ...] = ()
    default_from: tuple[str, ...] | None = ("data",)
    beam_role: str = "generic"
    known: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    without_data: str = "carries"


def _r(name: str, shape: str = "str", dep: bool = True) -> RefOption:
    return RefOption(name, shape, dep)


_NO_FROM: tuple[str, ...] = ()
_TABLE: dict[str, LayerClass] = {}


def _add(name: str, *refs: RefOption, default_from: tuple[str, ...] | None = ("data",),
         beam_role: str = "generic") -> None:
    _TABLE[name] = LayerClass(name, tuple(refs), default_from, beam_role)


# Classes whose options name layers (transform_config_dict overrides).
_add("copy", _r("extra_deps", "list"))
_add("identity", _r("control_dependencies", "list"))
_add("scaled_grad", _r("scale"), _r("shift"))
_add("slice_nd", _r("start"), _r("size"))
_add("gather", _r("position"))
_add("gather_nd", _r("position"))
_add("scatter_nd", _r("position"), _r("output_dim_via_time_from"))
_add("softmax_over_spatial", _r("start"), _r("window_start"), _r("window_size"))
_add("seq_len_mask", _r("seq_len_source"), _r("start"), _r("window_start"), _r("window_size"))
_add("boolean_mask", _r("mask"))
_add("random", _r("mean"), _r("stddev"), _r("bound"), _r("minval"), _r("maxval"), _r("explicit_state"),
     _r("shape_deps", "list"), default_from=_NO_FROM)
_add("rand_int", _r("minval"), _r("maxval"), _r("shape_deps", "list"), default_from=_NO_FROM)
_add("constant", _r("shape_deps", "list"), default_from=_NO_FROM)
_add("pad", _r("value", dep=False))
_add("split_batch_time", _r("base"))
_add("reshape", _r("extra_deps", "list"))
_add("unflatten_nd", _r("sizes"), _r("declare_same_sizes_as", "dict_values"))
_add("repeat", _r("repetitions"))
_add("reinterpret_data", _r("size_base"), _r("batch_dim_base", dep=False))
_add("conv", _r("filter", dep=False), _r("bias", dep=False))
_add("transposed_conv", _r("filter", dep=False), _r("bias", dep=False))
_add("prefix_in_time", _r("repeat", dep=False), _r("size_base", dep=False))
_add("postfix_in_time", _r("postfix", dep=False))
_add("time_unchunking", _r("chunking_layer", dep=False))
_add("resize", _r("factor", dep=False))
_add("switch", _r("condition"), _r("true_from"), _r("false_from"), default_from=_NO_FROM)
_add("cond", _r("condition", "layer_dict"), _r("true_layer", "layer_dict"),
     _r("false_layer", "layer_dict"), default_from=_NO_FROM, beam_role="cond")
_add("top_k", _r("k", dep=False))
_add("search_sorted", _r("sorted_sequence"), _r("values"), default_from=_NO_FROM)
_add("loss", _r("target_", "loss_target"))
_add("forced_align", _r("align_target", dep=False))
_add("sparse_softmax_cross_entropy_with_logits", _r("logits"), _r("targets"), default_from=_NO_FROM)
_add("ctc_loss", _r("logits"), _r("targets"), default_from=_NO_FROM)
_add("fast_bw", _r("staircase_seq_len_source", dep=False))
_add("gradient", _r("x"), _r("y"), default_from=_NO_FROM)
_add("synthetic_gradient", _r("gradient", dep=False))
_add("hdf_dump", _r("extra", "dict_values", dep=False))
_add("variable", _r("init_by_layer", dep=False), default_from=_NO_FROM)
_add("variable_assign", _r("var"), _r("value"), _r("control_dependencies", "list"), default_from=_NO_FROM)
_add("variable_read", _r("var"), _r("control_dependencies", "list"), default_from=_NO_FROM)
_add("rec", _r("initial_state", "nested"), _r("max_seq_len_via"),
     beam_role="rec")
_add("rnn_cell", _r("initial_state", "nested"))
_add("rec_last_output", _r("rec_layer"), default_from=_NO_FROM)
_add("choice", _r("explicit_search_source"), _r("explicit_search_sources", "nested"), beam_role="choice")
_add("generic_attention", _r("weights"), _r("base"), default_from=_NO_FROM)
_add("dot_attention", _r("base"), _r("base_ctx"))
_add("concat_attention", _r("base"), _r("base_ctx"))
_add("gauss_window_attention", _r("base"))
_add("self_attention", _r("key_shift", dep=False))
_add("positional_encoding", _r("offset"))
_add("edit_distance", _r("a"), _r("b"), default_from=_NO_FROM)
_add("masked_computation", _r("mask"), _r("masked_from"), default_from=_NO_FROM,
     beam_role="masked_computation")
_add("unmask", _r("mask"))
_add("parametric_wiener_filter", _r("filter_input"), _r("noise_estimation"), _r("parameters"),
     default_from=_NO_FROM)
_add("signal_masking", _r("signal"), _r("mask"), default_from=_NO_FROM)
_add("subnetwork", beam_role="subnetwork")

# Search bookkeeping classes.
_add("decide", beam_role="decide")
_add("decide_keep_beam", default_from=_NO_FROM, beam_role="decide_keep_beam")
_add("choice_get_beam_scores", default_from=_NO_FROM, beam_role="choice_get_beam_scores")
_add("choice_get_src_beams", default_from=_NO_FROM, beam_role="choice_get_src_beams")
_add("split_batch_beam", beam_role="split_batch_beam")
_add("select_search_sources", _r("search_choices", dep=False), beam_role="select_search_sources")

# Classes without layer-valued options but with their own default for ``from``.
for _name in ("source", "random_state_init", "range", "train_flag", "global_train_step",
              "rec_step_info", "your_layer_name", "stft"):
    _add(_name, default_from=_NO_FROM, beam_role="source" if _name == "source" else "generic")
_add(":i", default_from=_NO_FROM, beam_role="step")

# Every other RETURNN class: sources (+ target layers) only.
for _name in ["concat", "dropout", "activation", "batch_norm", "layer_norm", "norm", "math_norm", "slice", "linear", "softmax", "length", "range_in_axis", "range_from_length", "batch_softmax", "gating", "window", "fold", "cumsum", "merge_dims", "split", "split_dims", "flatten_batch", "unflatten_batch", "expand_dims", "tile", "cast", "swap_axes", "transpose", "pool", "dct", "reduce", "reduce_out", "squeeze", "stack", "weighted_sum", "elemwise_prod", "time_chunking", "dot", "shift_axis", "combine_dims", "remove", "combine", "eval", "compare", "accumulate_mean", "tikhonov_regularization", "framewise_statistics", "print", "image_summary", "get_last_hidden_state", "get_rec_accumulated", "rec_unstack", "kenlm", "edit_distance_table", "optimal_completions", "twod_lstm", "relative_positional_encoding", "cum_concat", "segment_input", "classes_to_segments", "classes_to_length_distribution", "classes_to_length_distribution_global", "segment_alignment", "unsegment_input", "fill_unused", "swap_time_feature", "flatten_time", "apply_length_distribution", "normalize_length_scores", "alternating_real_to_complex", "batch_median_pooling", "complex_linear_projection", "complex_to_alternating_real", "mask_based_gevbeamforming", "mask_based_mvdrbeamforming", "mel_filterbank", "multichannel_multiresolution_stft_layer", "multichannel_stft_layer", "istft", "first_t_frames_noise_estimator", "split_concatenated_multichannel", "tile_features",
              "forward", "hidden"]:  # the last two: RETURNN's aliases of linear
    _TABLE.setdefault(_name, LayerClass(_name))

# What each class' output template does with "not available for inference" (see WITHOUT_DATA); the
# classes not listed carry it. Measured: scripts/probe_availability.py (RETURNN 1.20261022, TF 2.21).
_MEASURED_WITHOUT_DATA = {
    "copies": ("print",),
    "first": ("copy", "concat", "stack", "switch", "rec",  # rec: with a string unit (a unit dict: its output)
              "edit_distance"),  # its ``a`` (both lose their time axis: equal ranks)
    "fresh": ("conv", "pool", "transposed_conv", "dot", "reduce", "math_norm", "gating", "range_in_axis",
              "stft", "get_last_hidden_state",
              "generic_attention",  # (``GenericAttentionLayer.get_out_data_from_opts``: ``DotLayer``'s)
              # the beam readers make a fresh ``Data`` (``ChoiceGetBeamScoresLayer.get_out_data_from_opts``;
              # RETURNN's answers to fresh36's mutants agree)
              "choice_get_beam_scores", "choice_get_src_beams"),
    "fresh_sizes": ("length",),
}
for _value, _names in _MEASURED_WITHOUT_DATA.items():
    for _name in _names:
        _TABLE[_name] = replace(_TABLE[_name], without_data=_value)

#: Classes with a state of their own inside a rec loop (a non-empty
#: ``get_rec_initial_extra_outputs`` there): RETURNN gives such a layer its previous frame
#: (``prev:NAME``) as ``rec_previous_layer``, one more input its translation takes into account.
REC_STATE_CLASSES = frozenset({"window", "cumsum", "rnn_cell", "self_attention", "masked_computation",
                               "unmask", "cum_concat",
                               # a position counter (``PositionalEncodingLayer``), the LM state (``KenLmStateLayer``)
                               "positional_encoding", "kenlm"})

_BUILTIN = frozenset(_TABLE)
_USER: dict[str, LayerClass] = {}


def register_layer_class(name: str, refs: dict[str, str] | None = None, *,
                         default_from: tuple[str, ...] | None = ("data",),
                         beam_role: str = "generic", dep: bool = True,
                         without_data: str = "carries") -> LayerClass:
    """Declare a custom layer class: which options name layers (option -> shape), its default ``from``.

    >>> cls = register_layer_class("my_att", {"keys": "str", "extra": "list"})
    >>> [r.name for r in cls.refs]
    ['keys', 'extra']
    >>> unregister_layer_class("my_att")
    """
    if beam_role not in BEAM_ROLES:
        raise ValueError(f"beam_role must be one of {BEAM_ROLES}, got {beam_role!r}")
    if without_data not in WITHOUT_DATA:
        raise ValueError(f"without_data must be one of {WITHOUT_DATA}, got {without_data!r}")
    opts = tuple(RefOption(k, v, dep) for k, v in (refs or {}).items())
    cls = LayerClass(name, opts, tuple(default_from) if default_from is not None else None, beam_role,
                     without_data=without_data)
    _USER[name] = cls
    return cls


def unregister_layer_class(name: str) -> None:
    """Forget a class declared with :func:`register_layer_class`."""
    _USER.pop(name, None)


def is_known_class(name: str) -> bool:
    """Whether ``name`` is a RETURNN class in our table or a registered custom class."""
    return name in _USER or name in _TABLE


def known_classes() -> list[str]:
    """All class names in the table (built-in and registered), sorted."""
    return sorted(set(_TABLE) | set(_USER))


def get_layer_class(name: str) -> LayerClass:
    """The table entry for ``name``; unknown classes get the generic treatment (``known=False``)."""
    if name in _USER:
        return _USER[name]
    if name in _TABLE:
        return _TABLE[name]
    return LayerClass(name, known=False)


def _names_in(value: Any, shape: str) -> Iterator[tuple[str, str]]:
    """Yield ``(path, name)`` for each layer name inside an option value of the given shape."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if shape in ("nested",) and value in INITIAL_OUTPUT_KEYWORDS:
            return
        if shape == "loss_target":
            # ``LossLayer.transform_config_dict``: ``layer:X`` is the layer X, anything else extern data
            yield "", value[len("layer:"):] if value.startswith("layer:") else f"data:{value}"
            return
        yield "", value
    elif isinstance(value, (list, tuple)):
        if shape == "str":
            return
        for i, item in enumerate(value):
            for sub, name in _names_in(item, "nested" if shape == "nested" else "str"):
                yield f"[{i}]{sub}", name
    elif isinstance(value, dict) and shape in ("dict_values", "nested"):
        for key in sorted(value, key=str):
            for sub, name in _names_in(value[key], "nested" if shape == "nested" else "str"):
                yield f"[{key!r}]{sub}", name


def iter_option_refs(cls: LayerClass, desc: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """Yield ``(option, name, dep)`` for every layer name held in the options of a layer dict.

    Covers the class-specific options and the generic ones every class has (``target`` as
    ``layer:x``, ``initial_output``, ``reuse_params``, ``state``). ``from`` is not included.
    Inline layer dicts (``cond``) are not names and are handled by the graph builder.
    """
    for ref in cls.refs:
        if ref.name not in desc:
            continue
        value = desc[ref.name]
        if ref.shape == "layer_dict" and isinstance(value, dict):
            continue
        for _, name in _names_in(value, "str" if ref.shape == "layer_dict" else ref.shape):
            yield ref.name, name, ref.dep
    target = desc.get("target")
    for t in target if isinstance(target, (list, tuple)) else [target]:
        if isinstance(t, str) and t.startswith("layer:"):
            yield "target", t[len("layer:"):], True
    init = desc.get("initial_output")
    if isinstance(init, str) and init not in INITIAL_OUTPUT_KEYWORDS:
        yield "initial_output", init, False
    reuse = desc.get("reuse_params")
    if isinstance(reuse, str):
        yield "reuse_params", reuse, False
    elif isinstance(reuse, dict):
        if isinstance(reuse.get("reuse_layer"), str):
            yield "reuse_params", reuse["reuse_layer"], False
        mapping = reuse.get("map")
        if isinstance(mapping, dict):
            # ``ReuseParams.from_config_dict``: a name shares that layer's parameter, a dict's
            # ``reuse_layer`` too, and its ``layer_output`` takes a layer's output as the parameter
            for key in sorted(mapping, key=str):
                entry = mapping[key]
                if isinstance(entry, str):
                    yield "reuse_params", entry, False
                elif isinstance(entry, dict):
                    for opt in ("reuse_layer", "layer_output"):
                        if isinstance(entry.get(opt), str):
                            yield "reuse_params", entry[opt], False
    if "state" in desc and "state" not in {r.name for r in cls.refs}:
        for _, name in _names_in(desc["state"], "nested"):
            yield "state", name, False
