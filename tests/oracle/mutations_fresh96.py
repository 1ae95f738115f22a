"""A ninety-eighth set of edit operators (issue 15, twentieth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

An option fuzzer driven by RETURNN's own signatures. The installed RETURNN layer classes of every class the
bases use (``returnn.tf.layers.basic.get_layer_class(cls)``) were introspected once, while this module was
written (a scratch script, ``/tmp/h96/gen_table.py``): ``inspect.signature`` of ``__init__`` and
``get_out_data_from_opts`` of every class of the MRO down to ``LayerBase``, plus the three options
``LayerBase.transform_config_dict`` pops before ``__init__`` sees them (``loss_scale``, ``loss_opts``,
``loss_only_on_non_search``). The result is the literal table below (``_LAYER_BASE_OPTS``,
``_CONCAT_INPUT_OPTS``, ``_CLASS_OPTS``: class -> option names, defaults, kinds and where they were found);
this module imports neither RETURNN nor TensorFlow. Every operator picks a layer on or near the beam path of a
searching decoder, collects the options of its class that the layer does not set yet, and sets 1 to 3 of them
(drawn with weights: the class's own options 2, the input options of ``_ConcatInputLayer`` 1,
``LayerBase``'s 1.5, or 0.4 for those only training reads), with values chosen by the type of the
default and by what the option means: layer names of the same scope where an option names a layer (no
cycles), axis descriptions (``T`` / ``F``), small ints or the layer's own size for dims, ``__dim__`` dims for
``out_dim``, the base's target key and vocabulary for targets, losses and sparse outputs, initialiser strings
for ``*_init``. An option that needs another to mean anything gets it too (``loss_scale`` / ``loss_opts`` /
``loss_only_on_non_search`` a ``loss``, a ``loss`` a ``target``, ``window_start`` a ``window_size``). Options
that need files, checkpoints, callables or special hardware are never drawn (``custom_param_importer``,
``load_on_init``, ``control_dependencies_on_output``, ``custom_score_combine``, ``state_var_lengths``,
``param_device`` other than ``CPU``), nor those no JSON net dict can hold (``out_shape`` sets, the source's
``in_dim`` object), nor those a subclass binds itself (``activation`` of ``softmax``), nor three that
always fail for reasons of their own (``eval_for_output_loss``, which needs an ``eval`` and a loss on every
source; ``initial_state`` and ``name_scope`` of a ``rec`` with a dict unit: "initial_state not
supported currently for custom unit" and an ``UnboundLocalError`` in ``_SubnetworkRecCell.get_output``).
Earlier sets set options by hand (fresh29 / 39 / 42 / 45 / 48 / 51); these draw them from the signatures, so
that options nobody thought of come up (none a variant of an earlier operator; no rule was written for any
of them):

* ``sigopt-frame``: a layer of a searching decoder's frame (a rec unit's layer other than its choices and
  ``end``, or a layer of a ``subnetwork`` inside the unit) gets 1 to 3 signature options: in the loop
  ``is_output_layer`` / ``need_last`` trigger ``_SubnetworkRecCell``'s accumulation of the frame's outputs
  (``get_output``'s ``output_layers_moved_out`` / the ``_RETURNN_beam_expanded`` extra outputs),
  ``initial_output`` its ``get_rec_initial_output`` for ``prev:``, ``loss`` / ``target`` the target lookup of
  ``LayerBase.transform_config_dict`` (``DataNotAvailable`` in search, ``loss_only_on_non_search``),
  ``extra_deps`` (a frame layer or ``prev:`` of a choice) / ``reuse_params`` / ``collocate_with`` the
  template construction's ``get_layer`` in the frame and ``CopyLayer``'s beam of its ``extra_deps``,
  ``register_as_extern_data`` ``TFNetwork._create_layer``, ``dropout`` / ``dropout_on_forward`` the
  ``_ConcatInputLayer`` input;
* ``sigopt-search``: the beam machinery itself: a searching loop's ``choice`` (``ChoiceLayer.__init__``'s own
  options: ``keep_beams``, ``search``, ``add_to_beam_scores``, ``input_type``, ``prob_scale``,
  ``base_beam_score_scale``, ``random_sample_scale``, ``length_normalization(_exponent)``,
  ``source_beam_sizes``, ``scheduled_sampling``, ``cheating``, ``explicit_search_sources`` ...), the loop's
  ``end`` (``CompareLayer``), the searching ``rec`` layer (``RecLayer.__init__``: ``include_eos``,
  ``direction``, ``unroll``, ``back_prop``, ``optimize_move_layers_out``, ``use_global_rec_step_offset``,
  ``max_seq_len`` ...), a ``decide`` / ``decide_keep_beam`` / ``choice_get_*`` / ``split_batch_beam`` layer
  (``BaseChoiceLayer``: ``search``, ``add_to_beam_scores``, ``length_normalization``), plus ``LayerBase``'s
  options on any of them (the class's own drawn twice as often as in the other operators); targets
  ``ChoiceLayer.__init__`` / ``get_out_data_from_opts``, ``SearchChoices``, ``DecideLayer.decide`` and
  ``_SubnetworkRecCell.get_output``'s end handling;
* ``sigopt-after``: a root layer after a searching decoder (one whose root ancestors include it: the beamed
  readers and what reads the ``decide`` layers, not the beam layers themselves, which ``sigopt-search`` takes,
  and the layers of a ``subnetwork`` among them) gets 1 to 3
  signature options; targets ``SelectSearchSourcesLayer.select_if_needed`` of the new layer references,
  ``is_output_layer`` / ``loss`` / ``register_as_extern_data`` at the root (``TFNetwork.construct_from_dict``,
  ``get_extern_data`` in search), ``reinterpret_data`` / ``reduce`` / ``length`` own options on beamed
  tensors;
* ``sigopt-encoder``: a root layer a searching decoder reads (its root ancestors: what the loop reads through
  ``base:`` and ``max_seq_len``) gets 1 to 3 signature options, so that the beamless side of
  ``translate_to_common_search_beam`` changes: ``extra_deps`` / ``reuse_params`` / ``size_base`` names,
  ``register_as_extern_data``, ``is_output_layer``, ``loss`` / ``target``, ``only_on_search``, axis and
  dim options of the encoder's classes (``pool``, ``conv``, ``rec``, ``reduce``, ``split_dims`` ...).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _layers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH96_SEED = 20270158
N_FRESH96 = 80

Result = "tuple[Case, str] | None"
#: (option name, default (JSON-able, else None), kind of the default, where it was found).
Opt = tuple[str, Any, str, str]

#: Introspected from returnn 1.20261022.211313 (``/tmp/h96/gen_table.py``): (option, default, kind, where).
_LAYER_BASE_OPTS: tuple[Opt, ...] = (
    ("n_out", None, "unset", "LayerBase.__init__"),
    ("out_dim", None, "none", "LayerBase.__init__"),
    ("out_type", None, "none", "LayerBase.__init__"),
    ("out_shape", None, "none", "LayerBase.__init__"),
    ("in_dim", None, "none", "LayerBase.__init__"),
    ("target", None, "none", "LayerBase.__init__"),
    ("loss", None, "none", "LayerBase.__init__"),
    ("size_target", None, "none", "LayerBase.__init__"),
    ("reuse_params", None, "none", "LayerBase.__init__"),
    ("name_scope", None, "none", "LayerBase.__init__"),
    ("param_device", None, "none", "LayerBase.__init__"),
    ("is_output_layer", None, "none", "LayerBase.__init__"),
    ("only_on_eval", False, "bool", "LayerBase.__init__"),
    ("only_on_search", False, "bool", "LayerBase.__init__"),
    ("copy_output_loss_from_source_idx", None, "none", "LayerBase.__init__"),
    ("batch_norm", False, "bool", "LayerBase.__init__"),
    ("L2", None, "none", "LayerBase.__init__"),
    ("darc1", None, "none", "LayerBase.__init__"),
    ("spatial_smoothing", 0.0, "float", "LayerBase.__init__"),
    ("param_variational_noise", None, "none", "LayerBase.__init__"),
    ("param_dropout", None, "none", "LayerBase.__init__"),
    ("param_dropout_min_ndim", None, "none", "LayerBase.__init__"),
    ("updater_opts", None, "none", "LayerBase.__init__"),
    ("initial_output", None, "none", "LayerBase.__init__"),
    ("state", None, "none", "LayerBase.__init__"),
    ("need_last", False, "bool", "LayerBase.__init__"),
    ("encapsulate", False, "bool", "LayerBase.__init__"),
    ("collocate_with", None, "none", "LayerBase.__init__"),
    ("trainable", True, "bool", "LayerBase.__init__"),
    ("custom_param_importer", None, "none", "LayerBase.__init__"),
    ("register_as_extern_data", None, "none", "LayerBase.__init__"),
    ("control_dependencies_on_output", None, "none", "LayerBase.__init__"),
    ("debug_print_layer_output", None, "none", "LayerBase.__init__"),
    ("loss_scale", 1.0, "float", "LayerBase.transform_config_dict"),
    ("loss_opts", None, "none", "LayerBase.transform_config_dict"),
    ("loss_only_on_non_search", None, "none", "LayerBase.transform_config_dict"),
)
_CONCAT_INPUT_OPTS: tuple[Opt, ...] = (
    ("dropout", 0, "int", "_ConcatInputLayer.__init__"),
    ("dropout_axis", None, "none", "_ConcatInputLayer.__init__"),
    ("dropout_noise_shape", None, "none", "_ConcatInputLayer.__init__"),
    ("dropout_on_forward", False, "bool", "_ConcatInputLayer.__init__"),
    ("mask", None, "none", "_ConcatInputLayer.__init__"),
)
_CLASS_OPTS: dict[str, tuple[str, bool, tuple[Opt, ...]]] = {
    "activation": ("ActivationLayer", True, (
        ("activation", None, "req", "ActivationLayer.__init__"),
        ("opts", None, "none", "ActivationLayer.__init__"),
    )),
    "cast": ("CastLayer", True, (
        ("dtype", None, "req", "CastLayer.__init__"),
        ("extra_deps", [], "seq", "CopyLayer.__init__"),
    )),
    "choice": ("ChoiceLayer", False, (
        ("beam_size", None, "req", "ChoiceLayer.__init__"),
        ("keep_beams", False, "bool", "ChoiceLayer.__init__"),
        ("search", None, "unset", "ChoiceLayer.__init__"),
        ("add_to_beam_scores", None, "unset", "ChoiceLayer.__init__"),
        ("input_type", "prob", "str", "ChoiceLayer.__init__"),
        ("prob_scale", 1.0, "float", "ChoiceLayer.__init__"),
        ("base_beam_score_scale", 1.0, "float", "ChoiceLayer.__init__"),
        ("random_sample_scale", 0.0, "float", "ChoiceLayer.__init__"),
        ("length_normalization", True, "bool", "ChoiceLayer.__init__"),
        ("length_normalization_exponent", 1.0, "float", "ChoiceLayer.__init__"),
        ("custom_score_combine", None, "none", "ChoiceLayer.__init__"),
        ("source_beam_sizes", None, "none", "ChoiceLayer.__init__"),
        ("scheduled_sampling", False, "bool", "ChoiceLayer.__init__"),
        ("cheating", False, "bool", "ChoiceLayer.__init__"),
        ("explicit_search_sources", None, "none", "ChoiceLayer.__init__"),
    )),
    "choice_get_beam_scores": ("ChoiceGetBeamScoresLayer", False, (
    )),
    "choice_get_src_beams": ("ChoiceGetSrcBeamsLayer", False, (
    )),
    "combine": ("CombineLayer", False, (
        ("kind", None, "req", "CombineLayer.__init__"),
        ("allow_broadcast_all_sources", None, "unset", "CombineLayer.__init__"),
        ("activation", None, "none", "CombineLayer.__init__"),
        ("with_bias", False, "bool", "CombineLayer.__init__"),
        ("eval", None, "none", "CombineLayer.__init__"),
        ("eval_locals", None, "none", "CombineLayer.__init__"),
        ("eval_for_output_loss", False, "bool", "CombineLayer.__init__"),
    )),
    "compare": ("CompareLayer", False, (
        ("kind", "equal", "str", "CompareLayer.__init__"),
        ("value", None, "none", "CompareLayer.__init__"),
        ("allow_broadcast_all_sources", None, "unset", "CompareLayer.__init__"),
    )),
    "concat": ("ConcatLayer", False, (
        ("allow_broadcast", False, "bool", "ConcatLayer.__init__"),
    )),
    "cond": ("CondLayer", False, (
        ("condition", None, "req", "CondLayer.__init__"),
        ("true_layer", None, "req", "CondLayer.__init__"),
        ("false_layer", None, "req", "CondLayer.__init__"),
    )),
    "conv": ("ConvLayer", True, (
        ("filter_size", None, "req", "ConvLayer.__init__"),
        ("padding", None, "req", "ConvLayer.__init__"),
        ("strides", 1, "int", "ConvLayer.__init__"),
        ("dilation_rate", 1, "int", "ConvLayer.__init__"),
        ("groups", 1, "int", "ConvLayer.__init__"),
        ("input_expand_dims", 0, "int", "ConvLayer.__init__"),
        ("input_add_feature_dim", False, "bool", "ConvLayer.__init__"),
        ("input_split_feature_dim", None, "none", "ConvLayer.__init__"),
        ("in_spatial_dims", None, "none", "ConvLayer.__init__"),
        ("out_spatial_dims", None, "none", "ConvLayer.__init__"),
        ("auto_use_channel_first", None, "unset", "ConvLayer.__init__"),
        ("with_bias", None, "unset", "ConvLayer.__init__"),
        ("activation", None, "none", "ConvLayer.__init__"),
        ("forward_weights_init", "glorot_uniform", "str", "ConvLayer.__init__"),
        ("bias_init", 0.0, "float", "ConvLayer.__init__"),
        ("filter", None, "none", "ConvLayer.__init__"),
        ("filter_perm", None, "none", "ConvLayer.__init__"),
        ("bias", None, "none", "ConvLayer.__init__"),
        ("use_time_mask", False, "bool", "ConvLayer.__init__"),
        ("pad_seq_len_to_power", None, "none", "ConvLayer.__init__"),
    )),
    "copy": ("CopyLayer", True, (
        ("extra_deps", [], "seq", "CopyLayer.__init__"),
    )),
    "cum_concat": ("CumConcatLayer", True, (
        ("out_spatial_dim", None, "req", "CumConcatLayer.__init__"),
        ("axis", None, "none", "CumConcatLayer.__init__"),
    )),
    "decide": ("DecideLayer", False, (
        ("length_normalization", False, "bool", "DecideLayer.__init__"),
        ("beam_size", None, "req", "BaseChoiceLayer.__init__"),
        ("search", None, "unset", "BaseChoiceLayer.__init__"),
        ("add_to_beam_scores", None, "unset", "BaseChoiceLayer.__init__"),
    )),
    "decide_keep_beam": ("DecideKeepBeamLayer", False, (
        ("beam_size", None, "req", "BaseChoiceLayer.__init__"),
        ("search", None, "unset", "BaseChoiceLayer.__init__"),
        ("add_to_beam_scores", None, "unset", "BaseChoiceLayer.__init__"),
    )),
    "dot": ("DotLayer", False, (
        ("reduce", None, "unset", "DotLayer.__init__"),
        ("red1", None, "unset", "DotLayer.__init__"),
        ("red2", None, "unset", "DotLayer.__init__"),
        ("var1", None, "unset", "DotLayer.__init__"),
        ("var2", None, "unset", "DotLayer.__init__"),
        ("add_var2_if_empty", None, "unset", "DotLayer.__init__"),
        ("use_mask", True, "bool", "DotLayer.__init__"),
        ("debug", False, "bool", "DotLayer.__init__"),
    )),
    "dot_attention": ("DotAttentionLayer", True, (
        ("energy_factor", None, "none", "DotAttentionLayer.__init__"),
        ("base_ctx", None, "req", "GlobalAttentionContextBaseLayer.__init__"),
        ("base", None, "req", "AttentionBaseLayer.__init__"),
    )),
    "dropout": ("DropoutLayer", True, (
        ("extra_deps", [], "seq", "CopyLayer.__init__"),
    )),
    "eval": ("EvalLayer", False, (
        ("eval", None, "req", "EvalLayer.__init__"),
        ("kind", None, "req", "CombineLayer.__init__"),
        ("allow_broadcast_all_sources", None, "unset", "CombineLayer.__init__"),
        ("activation", None, "none", "CombineLayer.__init__"),
        ("with_bias", False, "bool", "CombineLayer.__init__"),
        ("eval_locals", None, "none", "CombineLayer.__init__"),
        ("eval_for_output_loss", False, "bool", "CombineLayer.__init__"),
    )),
    "expand_dims": ("ExpandDimsLayer", True, (
        ("axis", None, "req", "ExpandDimsLayer.__init__"),
        ("dim", 1, "int", "ExpandDimsLayer.__init__"),
    )),
    "gather": ("GatherLayer", True, (
        ("position", None, "req", "GatherLayer.__init__"),
        ("axis", None, "req", "GatherLayer.__init__"),
        ("clip_to_valid", False, "bool", "GatherLayer.__init__"),
    )),
    "gather_nd": ("GatherNdLayer", True, (
        ("position", None, "req", "GatherNdLayer.__init__"),
    )),
    "generic_attention": ("GenericAttentionLayer", True, (
        ("weights", None, "req", "GenericAttentionLayer.__init__"),
        ("auto_squeeze", True, "bool", "GenericAttentionLayer.__init__"),
        ("base", None, "req", "GenericAttentionLayer.get_out_data_from_opts"),
    )),
    "get_last_hidden_state": ("GetLastHiddenStateLayer", False, (
        ("combine", "concat", "str", "GetLastHiddenStateLayer.__init__"),
        ("key", "*", "str", "GetLastHiddenStateLayer.__init__"),
    )),
    "length": ("LengthLayer", False, (
        ("axis", "T", "str", "LengthLayer.__init__"),
        ("add_time_axis", False, "bool", "LengthLayer.__init__"),
        ("dtype", "int32", "str", "LengthLayer.__init__"),
        ("sparse", False, "bool", "LengthLayer.__init__"),
    )),
    "linear": ("LinearLayer", True, (
        ("activation", None, "none", "LinearLayer.__init__"),
        ("with_bias", True, "bool", "LinearLayer.__init__"),
        ("grad_filter", None, "none", "LinearLayer.__init__"),
        ("forward_weights_init", "glorot_uniform", "str", "LinearLayer.__init__"),
        ("bias_init", 0.0, "float", "LinearLayer.__init__"),
        ("use_transposed_weights", False, "bool", "LinearLayer.__init__"),
    )),
    "masked_computation": ("MaskedComputationLayer", False, (
        ("mask", None, "req", "MaskedComputationLayer.__init__"),
        ("unit", None, "req", "MaskedComputationLayer.__init__"),
        ("masked_from", None, "req", "MaskedComputationLayer.__init__"),
        ("in_spatial_dim", None, "none", "MaskedComputationLayer.__init__"),
        ("out_spatial_dim", None, "none", "MaskedComputationLayer.__init__"),
    )),
    "merge_dims": ("MergeDimsLayer", True, (
        ("axes", None, "req", "MergeDimsLayer.__init__"),
        ("keep_order", None, "unset", "MergeDimsLayer.__init__"),
    )),
    "pool": ("PoolLayer", True, (
        ("mode", None, "req", "PoolLayer.__init__"),
        ("pool_size", None, "req", "PoolLayer.__init__"),
        ("padding", "VALID", "str", "PoolLayer.__init__"),
        ("dilation_rate", 1, "int", "PoolLayer.__init__"),
        ("strides", None, "none", "PoolLayer.__init__"),
        ("in_spatial_dims", None, "none", "PoolLayer.__init__"),
        ("out_spatial_dims", None, "none", "PoolLayer.__init__"),
        ("use_channel_first", None, "unset", "PoolLayer.__init__"),
        ("use_time_mask", False, "bool", "PoolLayer.__init__"),
    )),
    "positional_encoding": ("PositionalEncodingLayer", True, (
        ("axis", None, "unset", "PositionalEncodingLayer.__init__"),
        ("add_to_input", False, "bool", "PositionalEncodingLayer.__init__"),
        ("constant", -1, "int", "PositionalEncodingLayer.__init__"),
        ("offset", None, "none", "PositionalEncodingLayer.__init__"),
    )),
    "postfix_in_time": ("PostfixInTimeLayer", True, (
        ("axis", "T", "str", "PostfixInTimeLayer.__init__"),
        ("postfix", 0.0, "float", "PostfixInTimeLayer.__init__"),
        ("repeat", 1, "int", "PostfixInTimeLayer.__init__"),
    )),
    "rec": ("RecLayer", True, (
        ("unit", "lstm", "str", "RecLayer.__init__"),
        ("unit_opts", None, "none", "RecLayer.__init__"),
        ("direction", None, "none", "RecLayer.__init__"),
        ("input_projection", True, "bool", "RecLayer.__init__"),
        ("initial_state", None, "none", "RecLayer.__init__"),
        ("max_seq_len", None, "none", "RecLayer.__init__"),
        ("max_seq_len_via", None, "none", "RecLayer.__init__"),
        ("forward_weights_init", None, "none", "RecLayer.__init__"),
        ("recurrent_weights_init", None, "none", "RecLayer.__init__"),
        ("bias_init", None, "none", "RecLayer.__init__"),
        ("optimize_move_layers_out", None, "none", "RecLayer.__init__"),
        ("cheating", False, "bool", "RecLayer.__init__"),
        ("unroll", False, "bool", "RecLayer.__init__"),
        ("back_prop", None, "none", "RecLayer.__init__"),
        ("use_global_rec_step_offset", False, "bool", "RecLayer.__init__"),
        ("include_eos", False, "bool", "RecLayer.__init__"),
        ("debug", None, "none", "RecLayer.__init__"),
        ("axis", None, "none", "RecLayer.__init__"),
    )),
    "rec_unstack": ("RecUnstackLayer", False, (
        ("axis", None, "none", "RecUnstackLayer.__init__"),
        ("declare_rec_time", False, "bool", "RecUnstackLayer.__init__"),
    )),
    "reduce": ("ReduceLayer", True, (
        ("mode", None, "req", "ReduceLayer.__init__"),
        ("axes", None, "none", "ReduceLayer.__init__"),
        ("axis", None, "none", "ReduceLayer.__init__"),
        ("keep_dims", False, "bool", "ReduceLayer.__init__"),
        ("enforce_batch_dim_axis", None, "none", "ReduceLayer.__init__"),
        ("use_time_mask", None, "none", "ReduceLayer.__init__"),
    )),
    "reduce_out": ("ReduceOutLayer", True, (
        ("mode", None, "req", "ReduceOutLayer.__init__"),
        ("num_pieces", None, "req", "ReduceOutLayer.__init__"),
    )),
    "reinterpret_data": ("ReinterpretDataLayer", True, (
        ("switch_axes", None, "none", "ReinterpretDataLayer.__init__"),
        ("size_base", None, "none", "ReinterpretDataLayer.__init__"),
        ("batch_dim_base", None, "none", "ReinterpretDataLayer.__init__"),
        ("set_axes", None, "none", "ReinterpretDataLayer.__init__"),
        ("set_dim_tags", None, "none", "ReinterpretDataLayer.__init__"),
        ("enforce_batch_major", False, "bool", "ReinterpretDataLayer.__init__"),
        ("enforce_time_major", False, "bool", "ReinterpretDataLayer.__init__"),
        ("set_sparse", None, "none", "ReinterpretDataLayer.__init__"),
        ("set_sparse_dim", None, "unset", "ReinterpretDataLayer.__init__"),
        ("increase_sparse_dim", None, "none", "ReinterpretDataLayer.__init__"),
    )),
    "rnn_cell": ("RnnCellLayer", True, (
        ("unit", None, "req", "RnnCellLayer.__init__"),
        ("unit_opts", None, "none", "RnnCellLayer.__init__"),
        ("initial_state", None, "none", "RnnCellLayer.__init__"),
        ("weights_init", "xavier", "str", "RnnCellLayer.__init__"),
    )),
    "self_attention": ("SelfAttentionLayer", True, (
        ("num_heads", None, "req", "SelfAttentionLayer.__init__"),
        ("total_key_dim", None, "req", "SelfAttentionLayer.__init__"),
        ("key_shift", None, "none", "SelfAttentionLayer.__init__"),
        ("forward_weights_init", "glorot_uniform", "str", "SelfAttentionLayer.__init__"),
        ("attention_dropout", 0.0, "float", "SelfAttentionLayer.__init__"),
        ("attention_left_only", False, "bool", "SelfAttentionLayer.__init__"),
        ("initial_state", None, "none", "SelfAttentionLayer.__init__"),
        ("restrict_state_to_last_seq", False, "bool", "SelfAttentionLayer.__init__"),
        ("state_var_lengths", None, "none", "SelfAttentionLayer.__init__"),
    )),
    "slice": ("SliceLayer", True, (
        ("axis", None, "req", "SliceLayer.__init__"),
        ("slice_start", None, "none", "SliceLayer.__init__"),
        ("slice_end", None, "none", "SliceLayer.__init__"),
        ("slice_step", None, "none", "SliceLayer.__init__"),
    )),
    "slice_nd": ("SliceNdLayer", True, (
        ("size", None, "req", "SliceNdLayer.__init__"),
        ("start", None, "none", "SliceNdLayer.__init__"),
        ("min_size", None, "none", "SliceNdLayer.__init__"),
        ("axis", "T", "str", "SliceNdLayer.__init__"),
        ("out_spatial_dim", None, "none", "SliceNdLayer.__init__"),
    )),
    "softmax": ("SoftmaxLayer", True, (
        ("activation", None, "none", "LinearLayer.__init__"),
        ("with_bias", True, "bool", "LinearLayer.__init__"),
        ("grad_filter", None, "none", "LinearLayer.__init__"),
        ("forward_weights_init", "glorot_uniform", "str", "LinearLayer.__init__"),
        ("bias_init", 0.0, "float", "LinearLayer.__init__"),
        ("use_transposed_weights", False, "bool", "LinearLayer.__init__"),
    )),
    "softmax_over_spatial": ("SoftmaxOverSpatialLayer", True, (
        ("axis", None, "none", "SoftmaxOverSpatialLayer.__init__"),
        ("energy_factor", None, "none", "SoftmaxOverSpatialLayer.__init__"),
        ("start", None, "none", "SoftmaxOverSpatialLayer.__init__"),
        ("window_start", None, "none", "SoftmaxOverSpatialLayer.__init__"),
        ("window_size", None, "none", "SoftmaxOverSpatialLayer.__init__"),
        ("use_time_mask", None, "none", "SoftmaxOverSpatialLayer.__init__"),
        ("log_space", False, "bool", "SoftmaxOverSpatialLayer.__init__"),
    )),
    "split": ("SplitLayer", True, (
        ("axis", None, "none", "SplitLayer.__init__"),
        ("num_splits", None, "none", "SplitLayer.__init__"),
        ("size_splits", None, "none", "SplitLayer.__init__"),
        ("out_dims", None, "none", "SplitLayer.__init__"),
    )),
    "split_batch_beam": ("SplitBatchBeamLayer", False, (
        ("beam_dim", None, "none", "SplitBatchBeamLayer.__init__"),
        ("beam_size", None, "req", "BaseChoiceLayer.__init__"),
        ("search", None, "unset", "BaseChoiceLayer.__init__"),
        ("add_to_beam_scores", None, "unset", "BaseChoiceLayer.__init__"),
    )),
    "split_dims": ("SplitDimsLayer", True, (
        ("axis", None, "req", "SplitDimsLayer.__init__"),
        ("dims", None, "req", "SplitDimsLayer.__init__"),
        ("pad_to_multiples", None, "none", "SplitDimsLayer.__init__"),
        ("pad_value", 0, "int", "SplitDimsLayer.__init__"),
    )),
    "squeeze": ("SqueezeLayer", True, (
        ("axis", None, "req", "SqueezeLayer.__init__"),
        ("enforce_batch_dim_axis", None, "none", "SqueezeLayer.__init__"),
        ("allow_no_op", False, "bool", "SqueezeLayer.__init__"),
    )),
    "subnetwork": ("SubnetworkLayer", False, (
        ("subnetwork", None, "req", "SubnetworkLayer.__init__"),
        ("concat_sources", True, "bool", "SubnetworkLayer.__init__"),
        ("load_on_init", None, "none", "SubnetworkLayer.__init__"),
        ("dropout", 0, "int", "SubnetworkLayer.__init__"),
        ("dropout_noise_shape", None, "none", "SubnetworkLayer.__init__"),
    )),
    "switch": ("SwitchLayer", False, (
        ("condition", None, "req", "SwitchLayer.__init__"),
        ("true_from", None, "req", "SwitchLayer.__init__"),
        ("false_from", None, "req", "SwitchLayer.__init__"),
    )),
    "variable": ("VariableLayer", False, (
        ("shape", None, "req", "VariableLayer.__init__"),
        ("dtype", "float32", "str", "VariableLayer.__init__"),
        ("add_batch_axis", False, "bool", "VariableLayer.__init__"),
        ("add_time_axis", False, "bool", "VariableLayer.__init__"),
        ("saveable", True, "bool", "VariableLayer.__init__"),
        ("non_critical_for_restore", False, "bool", "VariableLayer.__init__"),
        ("init", None, "none", "VariableLayer.__init__"),
        ("init_by_layer", None, "none", "VariableLayer.__init__"),
        ("param_name", None, "none", "VariableLayer.__init__"),
    )),
}


# ----------------------------------------------------------------------------------------------------
# What the fuzzer never draws, and what it draws together

#: Internal, callable, file / checkpoint options and those no JSON net dict can hold.
_NEVER = frozenset({
    "custom_param_importer", "control_dependencies_on_output", "custom_score_combine", "load_on_init",
    "state_var_lengths", "state", "out_shape", "in_dim", "in_spatial_dims", "out_spatial_dims",
    "out_spatial_dim", "in_spatial_dim", "set_dim_tags", "filter", "filter_perm", "bias", "eval_locals",
    "opts", "unit_opts", "key_shift", "offset", "out_dims", "beam_dim", "max_seq_len_via", "size_splits",
    "input_split_feature_dim", "eval", "eval_for_output_loss",
})
#: Options a subclass passes itself (setting them is a ``TypeError`` of the signature, not an option).
_BOUND = frozenset({("softmax", "activation")})
#: Options that exclude each other (RETURNN asserts only one is given).
_CLASH = (("axis", "axes"), ("reduce", "red1"), ("reduce", "red2"), ("reduce", "var1"), ("reduce", "var2"))
#: Options that need another one to mean anything: option -> the one it needs.
_NEEDS = {"loss_scale": "loss", "loss_opts": "loss", "loss_only_on_non_search": "loss", "loss": "target",
          "window_start": "window_size", "copy_output_loss_from_source_idx": "loss",
          "mask": "dropout"}
#: ``LayerBase`` options only training reads (parameters, regularisation, the updater, debugging).
_TRAINING_ONLY = frozenset({
    "L2", "darc1", "spatial_smoothing", "param_variational_noise", "param_dropout", "param_dropout_min_ndim",
    "updater_opts", "trainable", "param_device", "debug_print_layer_output", "batch_norm",
})
_INITS = ("glorot_normal", "variance_scaling_initializer(scale=0.78)",
          "random_normal_initializer(mean=0.0, stddev=0.1)", "zeros")
_ACTS = ("relu", "tanh", "sigmoid", "log_softmax")
_SKIP = object()


@dataclass
class _Site:
    """A layer the fuzzer edits: its scope's layers, name, where (for the description), whether it sits in a
    loop, the root net and the searching rec it belongs to (or None)."""

    case: Case
    net: dict[str, Any]
    scope: dict[str, Any]
    name: str
    where: str
    loop: bool
    root: bool
    rec: str | None

    @property
    def desc(self) -> dict[str, Any]:
        return self.scope[self.name]

    @property
    def cls(self) -> str:
        return str(self.desc.get("class"))

    def others(self, *, dep: bool, same_class: bool = False) -> list[str]:
        """Other layers of the scope; with ``dep`` only those that do not read this one (no cycle)."""
        out = []
        for k in _layers(self.scope):
            if k == self.name or (same_class and self.scope[k].get("class") != self.cls):
                continue
            if dep:
                above = _root_ancestors(self.net, k) if self.root else _frame_ancestors(self.scope, k)
                if self.name in above:
                    continue
            out.append(k)
        return out

    def target(self) -> str | None:
        """The target key of the decoder this layer belongs to, else the base's first sparse key."""
        if self.rec is not None:
            unit = self.net[self.rec]["unit"]
            for c in _unit_choices(unit):
                t = unit[c].get("target")
                if isinstance(t, str) and not t.startswith("layer:"):
                    return t.removeprefix("data:")
        keys = _sparse_keys(self.case)
        return keys[0] if keys else None

    def dim(self) -> int | None:
        n = self.desc.get("n_out")
        return n if isinstance(n, int) and not isinstance(n, bool) else None


def _opts_of(cls: str) -> list[tuple[Opt, float]]:
    """The signature options of a layer class with their draw weights: the class's own 2, the input's
    (``_ConcatInputLayer``) 1, ``LayerBase``'s 1.5 where the option changes what the network constructs and
    0.4 where it is only read by training (``_TRAINING_ONLY``)."""
    entry = _CLASS_OPTS.get(cls)
    if entry is None:
        return []
    _, concat, own = entry
    out = [(o, 2.0) for o in own]
    if concat:
        out += [(o, 1.0) for o in _CONCAT_INPUT_OPTS]
    out += [(o, 0.4 if o[0] in _TRAINING_ONLY else 1.5) for o in _LAYER_BASE_OPTS]
    return out


def _feat_dim(name: str, size: int) -> dict[str, Any]:
    return {"__dim__": {"description": f"{name}-feat", "dimension": size, "kind": "feature"}}


# ----------------------------------------------------------------------------------------------------
# Values, by the option's meaning, else by the type of its default


def _value(site: _Site, opt: Opt, rng: random.Random) -> Any:
    name, default, kind, _ = opt
    cls, desc = site.cls, site.desc
    dim = site.dim()
    target = site.target()
    tdim = _target_dim(site.case, target)
    # options that name layers of the same scope
    if cls == "rec" and isinstance(desc.get("unit"), dict) and name in ("name_scope", "initial_state"):
        return _SKIP  # RETURNN: no initial_state for a custom unit, an UnboundLocalError for its name_scope
    if name in ("reuse_params", "name_scope") and cls not in ("linear", "softmax", "rnn_cell", "conv", "rec",
                                                                "self_attention", "variable"):
        return _SKIP if name == "reuse_params" else rng.choice(["", f"{site.name}_ns"])
    if name == "reuse_params":
        cands = site.others(dep=True, same_class=True)
        return rng.choice(cands) if cands else _SKIP
    if name == "name_scope":
        cands = site.others(dep=False, same_class=True)
        return rng.choice(["", f"{site.name}_ns", *cands[:2]])
    if name in ("extra_deps", "collocate_with"):
        cands = site.others(dep=True)
        if name == "extra_deps" and site.loop and site.rec is not None:  # a label of the previous frame
            cands += [f"prev:{c}" for c in _unit_choices(site.net[site.rec]["unit"]) if c in site.scope]
        return [rng.choice(cands)] if cands else _SKIP
    if name in ("size_base", "batch_dim_base", "init_by_layer"):
        cands = site.others(dep=True)
        return rng.choice(cands) if cands else _SKIP
    if name == "explicit_search_sources":
        cands = [k for k in site.others(dep=True) if site.scope[k].get("class") == "choice"]
        refs = [f"prev:{site.name}", *cands]
        return [rng.choice(refs)]
    # targets, losses and their options
    if name in ("target", "size_target"):
        return target if target else _SKIP
    if name == "loss":
        if cls == "softmax" or (cls == "linear" and dim is not None and dim == tdim):
            return "ce"
        return _SKIP
    if name == "loss_scale":
        return rng.choice([0.5, 0.1, 2.0])
    if name == "loss_opts":
        return rng.choice([{"label_smoothing": 0.1}, {"focal_loss_factor": 2.0}, {"scale": 0.3}])
    if name == "copy_output_loss_from_source_idx":
        return 0 if _sources(desc) else _SKIP
    # output flags and registration
    if name in ("is_output_layer", "need_last", "only_on_search", "only_on_eval", "encapsulate",
                "loss_only_on_non_search", "debug_print_layer_output", "eval_for_output_loss"):
        return True
    if name == "register_as_extern_data":
        return f"{site.name.replace('/', '_')}_extern"
    if name == "trainable":
        return False
    if name == "param_device":
        return "CPU"
    # parameters, regularisation
    if name == "L2":
        return rng.choice([1e-4, 0.001])
    if name == "darc1":
        return 1e-4
    if name in ("param_variational_noise",):
        return rng.choice([0.075, 0.025])
    if name in ("param_dropout", "attention_dropout"):
        return rng.choice([0.1, 0.2])
    if name == "param_dropout_min_ndim":
        return 2
    if name == "spatial_smoothing":
        return 0.1
    if name == "batch_norm":
        if site.loop:
            return _SKIP
        return rng.choice([True, {"momentum": 0.1, "epsilon": 1e-3}])
    if name == "updater_opts":
        return {"optimizer": {"class": "adam"}}
    if name in ("forward_weights_init", "recurrent_weights_init", "weights_init"):
        return rng.choice([i for i in _INITS if i != default and i != "zeros"])
    if name == "bias_init":
        return rng.choice([0.1, -1.0, "zeros"] if kind == "none" else [0.1, -1.0])
    if name == "init":
        return rng.choice([0.0, 1.0, "glorot_uniform"])
    if name == "param_name":
        return "W"
    if name == "grad_filter":
        return 1.0
    if name == "activation":
        return rng.choice(_ACTS)
    # dims and types
    # dims: the size the layer has (its ``n_out``, a choice's vocabulary), declared once more
    if name == "n_out":
        return tdim if cls == "choice" and tdim else _SKIP
    if name == "out_dim":
        size = dim if dim is not None else (tdim if cls == "choice" else None)
        return _feat_dim(f"{site.where.replace('/', '-')}", size) if size else _SKIP
    if name == "out_type":
        if cls == "choice" and tdim:
            return {"dim": tdim, "sparse": True, "dtype": "int32"}
        return {"dim": dim} if dim is not None else _SKIP
    if name in ("set_sparse_dim",):
        return tdim if tdim else _SKIP
    if name == "increase_sparse_dim":
        return 1
    if name == "dtype" and cls in ("length", "variable"):
        return "int64" if cls == "length" else "float64"
    # initial values of the loop
    if name == "initial_output":
        if not site.loop or cls in ("rnn_cell", "rec"):
            return _SKIP
        return rng.choice([0, 1]) if cls == "choice" else rng.choice(["zeros", "ones", 0, "var"])
    if name == "initial_state":
        return rng.choice(["zeros", "var"])
    # dropout of the input
    if name == "dropout":
        return rng.choice([0.1, 0.3])
    if name == "dropout_axis":
        return "F"
    if name == "dropout_noise_shape":
        return {"*": None}
    if name == "dropout_on_forward":
        return True
    if name == "mask":
        return "dropout"
    # axes
    if name in ("axis", "axes", "switch_axes"):
        if cls in ("rec", "cum_concat"):
            return _SKIP
        if site.loop:  # a frame has a time axis only where it reads the encoder
            timed = cls in ("softmax_over_spatial", "generic_attention") or any(
                r.startswith("base:") for r in _sources(desc))
            if name == "switch_axes":
                return ["T", "F"] if timed else _SKIP
            return "T" if timed else "F"
        if name == "switch_axes":
            return ["T", "F"]
        return rng.choice(["T", "F"])
    if name == "enforce_time_major" and site.loop:
        return _SKIP
    if name in ("set_axes",):
        return {"t": "F"} if rng.random() < 0.5 else {"f": "T"}
    if name == "enforce_batch_dim_axis":
        return 0
    # the choice's and the search's own
    if name == "input_type":
        return rng.choice(["log_prob", "prob"] if default != "prob" else ["log_prob", "regression"])
    if name == "source_beam_sizes":
        n = max(1, len(_sources(desc)))
        return [rng.choice([1, 2, 4, 12]) for _ in range(n)]
    if name == "scheduled_sampling":
        return rng.choice([{"gold_mixin_prob": 0.5}, {"gold_mixin_prob": 0.1}])
    if name == "cheating":
        return rng.choice([True, "exclusive"]) if cls == "choice" else True
    if name in ("search", "add_to_beam_scores", "optimize_move_layers_out", "back_prop", "keep_order",
                "use_channel_first", "auto_use_channel_first", "use_time_mask", "set_sparse", "with_bias"):
        if kind == "bool":
            return not default
        return rng.choice([True, False])
    if name == "length_normalization_exponent":
        return rng.choice([0.5, 1.2, 0.0])
    if name in ("prob_scale", "base_beam_score_scale"):
        return rng.choice([0.5, 0.0, 2.0])
    if name == "random_sample_scale":
        return rng.choice([0.1, 1.0])
    if name == "max_seq_len":
        enc = [k for k in sorted(_root_ancestors(site.net, site.name)) if site.net[k].get("class") != "rec"]
        return rng.choice([f"max_len_from('base:{enc[0]}')", 20] if enc else [20, 10])
    if name == "direction":
        return -1
    if name == "debug":
        return True
    # own options of the other classes
    if name == "energy_factor":
        return rng.choice([0.125, 0.5])
    if name == "window_size":
        return rng.choice([3, 5])
    if name == "window_start":
        return ":i" if site.loop else _SKIP
    if name == "start":
        return ":i" if site.loop and cls == "softmax_over_spatial" else _SKIP
    if name == "value":
        return rng.choice([0, 1, 0.5]) if cls == "compare" else _SKIP
    if name == "kind" and cls == "compare":
        return rng.choice(["not_equal", "greater", "less_equal"])
    if name in ("strides", "dilation_rate"):
        return 2
    if name == "padding":
        return "SAME"
    if name == "combine":
        return "add"
    if name == "key":
        return _SKIP
    if name in ("min_size", "num_splits", "dim", "repeat", "pad_value", "groups", "input_expand_dims"):
        return rng.choice([1, 2]) if name != "num_splits" else 2
    if name == "pad_seq_len_to_power":
        return 1.5
    if name == "slice_start":
        return 1
    if name == "slice_end":
        return -1
    if name == "slice_step":
        return 2
    if name == "constant":
        return rng.choice([0, 5])
    if name == "postfix":
        return 1.0
    if name == "pad_to_multiples":
        return True
    # the rest by the type of the default
    if kind == "bool":
        return not default
    if kind == "int":
        return rng.choice([v for v in (0, 1, 2, 3) if v != default])
    if kind == "float":
        return rng.choice([v for v in (0.0, 0.1, 0.5, 2.0) if v != default])
    return _SKIP


def _fuzz(site: _Site, rng: random.Random, own_bias: float = 1.0) -> list[str] | None:
    """Set 1 to 3 options of the site's class it does not set yet; the edits made (``opt=value``)."""
    desc = site.desc
    pool = []
    for opt, w in _opts_of(site.cls):
        name, _, kind, _ = opt
        if name in desc or name in _NEVER or (site.cls, name) in _BOUND or kind == "req":
            continue
        if any(name in pair and (set(pair) - {name}) & set(desc) for pair in _CLASH):
            continue
        pool.append((opt, w * (own_bias if w >= 2.0 else 1.0)))
    k = rng.choice([1, 1, 2, 2, 3])
    done: list[str] = []
    tries = 0
    while pool and len(done) < k and tries < 12:
        tries += 1
        i = rng.choices(range(len(pool)), [w for _, w in pool])[0]
        opt = pool.pop(i)[0]
        name = opt[0]
        if name in desc:
            continue
        value = _value(site, opt, rng)
        if value is _SKIP:
            continue
        extra: list[str] = []
        need = _NEEDS.get(name)
        while need is not None and need not in desc:
            nopt = next((o for o, _ in _opts_of(site.cls) if o[0] == need), None)
            nval = _SKIP if nopt is None else _value(site, nopt, rng)
            if nval is _SKIP:
                break
            desc[need] = nval
            extra.append(f"{need}={nval!r}")
            need = _NEEDS.get(need)
        if need is not None and need not in desc:
            for e in extra:  # the option cannot mean anything here: undo what it pulled in
                desc.pop(e.split("=", 1)[0], None)
            continue
        desc[name] = value
        where = opt[3].split(".")[0]
        done.append(f"{name}={value!r} [{where}]" + (f" (with {', '.join(extra)})" if extra else ""))
    return done or None


def _describe(tag: str, site: _Site, done: list[str]) -> str:
    return f"{tag}: {site.where} ({site.cls}): set {'; '.join(done)}"


# ----------------------------------------------------------------------------------------------------
# Sites


def _unit_sites(case: Case, net: dict[str, Any], rec: str) -> list[_Site]:
    """The frame's layers of a searching rec (not its choices and ``end``), and those of its subnetworks."""
    unit = net[rec]["unit"]
    out = []
    for k in _layers(unit):
        if unit[k].get("class") == "choice" or k == "end":
            continue
        out.append(_Site(case, net, unit, k, f"{rec}/{k}", True, False, rec))
        sub = unit[k].get("subnetwork")
        if unit[k].get("class") == "subnetwork" and isinstance(sub, dict):
            out += [_Site(case, net, sub, s, f"{rec}/{k}/{s}", True, False, rec) for s in _layers(sub)]
    return [s for s in out if s.cls in _CLASS_OPTS]


def op_sigopt_frame(case: Case, rng: random.Random) -> Result:
    """A layer of a searching decoder's frame gets 1 to 3 options drawn from its class's signatures."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    sites = _unit_sites(new, net, rng.choice(recs))
    if not sites:
        return None
    site = rng.choice(sites)
    done = _fuzz(site, rng)
    return (new, _describe("sigopt-frame", site, done)) if done else None


_BEAM_CLASSES = ("decide", "decide_keep_beam", "choice_get_beam_scores", "choice_get_src_beams",
                 "split_batch_beam", "choice")


def op_sigopt_search(case: Case, rng: random.Random) -> Result:
    """A searching loop's choice or ``end``, the searching rec layer, or a beam layer (``decide``, ...) gets 1
    to 3 signature options (the class's own drawn twice as often as elsewhere)."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    sites: list[tuple[_Site, float]] = []
    for rec in recs:
        unit = net[rec]["unit"]
        sites.append((_Site(new, net, net, rec, rec, False, True, rec), 1.0))
        for k in _layers(unit):
            if unit[k].get("class") in _BEAM_CLASSES:
                sites.append((_Site(new, net, unit, k, f"{rec}/{k}", True, False, rec), 2.0))
            elif k == "end":
                sites.append((_Site(new, net, unit, k, f"{rec}/{k}", True, False, rec), 1.0))
    for k in _layers(net):
        if net[k].get("class") in _BEAM_CLASSES:
            rec = next((r for r in recs if r in _root_ancestors(net, k)), None)
            sites.append((_Site(new, net, net, k, k, False, True, rec), 1.5))
    sites = [(s, w) for s, w in sites if s.cls in _CLASS_OPTS]
    if not sites:
        return None
    site = rng.choices([s for s, _ in sites], [w for _, w in sites])[0]
    done = _fuzz(site, rng, own_bias=2.0)
    return (new, _describe("sigopt-search", site, done)) if done else None


def op_sigopt_after(case: Case, rng: random.Random) -> Result:
    """A root layer after a searching decoder (or a layer of a root ``subnetwork`` after it) gets 1 to 3
    signature options."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    sites = []
    for k in _layers(net):
        if k in recs or net[k].get("class") in _BEAM_CLASSES:
            continue
        rec = next((r for r in recs if r in _root_ancestors(net, k)), None)
        if rec is None:
            continue
        sites.append(_Site(new, net, net, k, k, False, True, rec))
        sub = net[k].get("subnetwork")
        if net[k].get("class") == "subnetwork" and isinstance(sub, dict):
            sites += [_Site(new, net, sub, s, f"{k}/{s}", False, False, rec) for s in _layers(sub)]
    sites = [s for s in sites if s.cls in _CLASS_OPTS]
    if not sites:
        return None
    site = rng.choice(sites)
    done = _fuzz(site, rng)
    return (new, _describe("sigopt-after", site, done)) if done else None


def op_sigopt_encoder(case: Case, rng: random.Random) -> Result:
    """A root layer a searching decoder reads (through ``base:`` or its ``max_seq_len``) gets 1 to 3
    signature options."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    after = {k for k in _layers(net) if any(r in _root_ancestors(net, k) for r in recs)}
    names = sorted(_root_ancestors(net, rec) - after - set(recs))
    text = repr(net[rec].get("max_seq_len", ""))
    names += [k for k in _layers(net) if f"base:{k}'" in text and k not in names and k not in after]
    sites = [_Site(new, net, net, k, k, False, True, None) for k in names]
    sites = [s for s in sites if s.cls in _CLASS_OPTS]
    if not sites:
        return None
    site = rng.choice(sites)
    done = _fuzz(site, rng)
    return (new, _describe("sigopt-encoder", site, done)) if done else None


FRESH96_OPERATORS: tuple[Op, ...] = (
    Op("sigopt-frame", op_sigopt_frame, 3),
    Op("sigopt-search", op_sigopt_search, 3.5),
    Op("sigopt-after", op_sigopt_after, 1.5),
    Op("sigopt-encoder", op_sigopt_encoder, 1),
)
