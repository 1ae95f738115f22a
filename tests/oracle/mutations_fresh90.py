"""A ninety-second set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: decoders from rwth-i6/i6_experiments user directories that no earlier set used (not ``users/zeineldeen``,
``users/gaudino``, ``users/schmitt``, ``users/berger``): three search-time decoder sub-structures of the RETURNN
network dicts in ``users/rossenbach`` (the Tacotron-2 TTS decoder), ``users/zeyer`` (the TF-layer RNA /
transducer configs of ``exp2022_07_21_transducer``) and ``users/michel`` (the Conformer decoder), grafted onto the
bases' searching decoders as the configs write them (layer classes, options, ``prev:`` wiring; names and sizes
adapted), with the variants users copy over and the mistakes made on the way (none a variant of an earlier
operator; no rule was written for any of them):

* ``stop-accum-end``: the "variable stop token" of ``Tacotron2NetworkBuilderV2.add_decoding_forward`` in
  ``users/rossenbach/experiments/alignment_analysis_tts/tacotron2_aligner/tacotron2_network.py`` (commit
  60af42b3b6b006ec11df684b69d642c3a0e87a18; options ``decoding_stop_threshold`` 0.4 and
  ``decoding_additional_steps`` 5 in the sibling ``config.py``), which runs a fixed number of extra frames once the
  stop probability first passed the threshold: ``pre_end`` (``compare`` ``greater`` of the stop probability with
  the threshold), ``pre_end_float`` (``cast`` float32), ``accum_end`` (``eval`` ``source(0) +
  tf.minimum(tf.maximum(source(1), source(0)), 1)`` over ``[prev:accum_end, pre_end_float]`` with ``out_type``
  ``{"dim": 1, "shape": (1,)}``), ``end_compare`` (``compare`` ``greater`` with the extra steps) and ``end`` (a
  ``squeeze`` of ``F``). The stop probability is the decoder's own sigmoid stop layer where it has one, the
  Tacotron ``stop_token`` (``linear`` ``n_out`` 1 over the sources of the choice's score layer) plus
  ``stop_token_sigmoid``, or, on a label decoder, the EOS column of the choice's scores (a ``slice`` of ``F``). The
  old end is replaced (as the builder does), or kept and OR-ed with the new one; the mistakes: the ``squeeze``
  forgotten (the end keeps the shape ``(1,)``), the ``out_type`` of ``accum_end`` left out. On a regression
  decoder the builder's other forward-decoding edit comes along now and then: the feedback reads ``prev:`` of the
  choice's dense source instead of ``prev:CHOICE`` (``pre_slice`` from ``prev:output``). Targets: the end-layer
  handling of ``_SubnetworkRecCell.get_output`` (``end`` shape / dtype, the end flag's beam, ``maybe_transform``,
  ``RecStepInfoLayer`` end flags) and the template construction of a ``prev:`` self-recurrence with an explicit
  ``out_type``.
* ``recomb-key-sources``: the hypothesis-recombination bookkeeping of the RNA / transducer configs of
  ``users/zeyer/experiments/exp2022_07_21_transducer`` (``configs/rna-tf2.blank0.enc6l-grow2l.scratch-lm.rdrop02
  .lm1-1024.attwb5-drop02.l2_1e_4.mlr50.config.py``, commit feef7c7f403799720a5bb312a671ebc5abaadcc2, and
  ``exp_fs_base/_orig_pre20bs5k_fixsepblanklast_config.py``): ``output_is_not_blank`` (``compare`` ``not_equal``
  of the choice with the blank / EOS index, ``initial_output`` True), ``output_emit`` (a ``copy`` of it,
  ``initial_output`` True, maybe ``is_output_layer``), the label position ``u`` (``du`` a ``switch`` on
  ``output_emit`` between the ``constant`` layers ``const1`` / ``const0``, with ``collocate_with`` as the config
  writes them or without; ``u`` a ``combine`` add of ``prev:u`` and ``du``, ``initial_output`` 0) and the
  choice's ``explicit_search_sources``: the train form ``["prev:u"]`` (that serves ``targetb_recomb_train``), the
  search form with ``prev:CHOICE`` added (the config's ``["prev:out_str", "prev:output"]``, whose string state
  and ``custom_score_combine`` function a JSON network cannot carry), a slip to ``prev:du``, or none (``u`` only an
  output layer); the choice's ``length_normalization`` False as in those configs; now and then ``u`` read at the
  root by a ``decide`` of ``REC/u``. Targets: ``ChoiceLayer``'s ``explicit_search_sources`` (its search-choice
  dependencies in ``TFNetwork.get_search_choices`` / ``SearchChoices``), the beam selection of ``prev:`` states
  fed by ``switch`` over constants (``SelectSearchSourcesLayer``, ``collocate_with``), and ``DecideLayer`` on a
  loop sub-layer.
* ``conformer-conv-module``: the Conformer decoder block of ``users/michel/models/asr/decoder/conformer_decoder.py``
  (commit eb4304e4e10bb8231a881e3b1586be12ce0c8b14) put on the label embedding of a searching loop: a half-step
  feed-forward module (``layer_norm``, ``linear``, ``swish``, ``dropout``, ``linear``, ``dropout``, ``eval`` ``0.5 *
  source(0)``, residual ``combine`` add; ``_create_ff_module``) now and then, then the convolution module
  (``_create_convolution_module``: ``layer_norm``, point-wise ``linear`` to twice the size, ``gating`` (GLU), the
  depth-wise causal convolution, ``swish``, point-wise ``linear``, ``dropout``, residual ``combine`` add), the
  embedding's readers reading the block's output. The depth-wise part as the file writes it (``pad`` of ``T`` by
  ``(K - 1, 0)`` and a ``conv`` ``valid`` with ``groups``; the file's own TODO says it "does not work inside a
  recurrent subnetwork"), or as users make it work in a loop: a ``window`` into the past (``window_left`` K - 1 or
  ``window_right`` 0; WindowLayer keeps the last frames as a recurrent state) and the ``conv`` ``valid`` over the
  window axis, then ``merge_dims``; or the ``window`` without ``window_left`` / ``window_right`` (its assertion).
  Sometimes the ``end`` goes missing as in the file's ``_create_decoder``, which adds ``end`` only when
  ``length_normalization`` is off. Targets: WindowLayer's recurrent state (``get_rec_initial_extra_outputs``,
  ``rec_vars_outputs`` reordered by the beam in ``_SubnetworkRecCell`` / ``SelectSearchSourcesLayer``), the beam
  path through ``gating`` / ``conv`` in the frame, and the end-layer checks of ``_SubnetworkRecCell``.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH90_SEED = 20270152
N_FRESH90 = 80

Result = "tuple[Case, str] | None"


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a data key (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _rename_end(unit: dict[str, Any]) -> str | None:
    """Move the unit's ``end`` to a fresh name (``end_label``), every reference in the unit following."""
    if not isinstance(unit.get("end"), dict):
        return None
    old = _fresh(unit, "end_label")
    unit[old] = unit.pop("end")

    def fix(ref: str) -> str:
        if ref == "end":
            return old
        if ref == "prev:end":
            return f"prev:{old}"
        return ref

    for k in _layers(unit):
        _map_refs(unit[k], fix)
    return old


# ----------------------------------------------------------------------------------------------------
# stop-accum-end (users/rossenbach, tacotron2_network.py, add_decoding_forward)


def _sigmoid_stop(unit: dict[str, Any]) -> str | None:
    """A loop layer that already gives a stop probability: ``stop*`` with a sigmoid and one output."""
    for k in _layers(unit):
        desc = unit[k]
        if "stop" in k and desc.get("activation") == "sigmoid" and desc.get("n_out", 1) == 1:
            return k
    return None


def _state_sources(unit: dict[str, Any], choice: str) -> list[str]:
    """What the Tacotron stop token reads: the plain loop sources of the choice's score layer (``decoder_2``,
    ``att0`` in the builder), else the choice's own sources."""
    srcs = _sources(unit[choice])
    if len(srcs) == 1 and srcs[0] in unit and isinstance(unit[srcs[0]], dict):
        inner = [s for s in _sources(unit[srcs[0]]) if s in unit and s != choice]
        if inner:
            return inner
    return srcs


def op_stop_accum_end(case: Case, rng: random.Random) -> Result:
    """Rossenbach's variable stop token: the loop ends K frames after the stop probability first passed a
    threshold (a counter over ``prev:``), the end a ``squeeze`` of the counter's comparison."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if _sources(net[r]["unit"][c])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    cdesc = unit[choice]
    regression = cdesc.get("input_type") == "regression"
    how: list[str] = []

    # the stop probability
    existing = _sigmoid_stop(unit)
    srcs = _sources(cdesc)
    scores = srcs[0] if len(srcs) == 1 and srcs[0] in unit else None
    kinds, weights = ["tacotron"], [0.45]
    if existing is not None:
        kinds.append("existing")
        weights.append(0.8)
    if not regression and scores is not None and cdesc.get("input_type", "prob") in ("prob", "log_prob"):
        kinds.append("eos")
        weights.append(0.45)
    kind = rng.choices(kinds, weights)[0]
    if kind == "existing":
        stop = existing
        how.append(f"stop probability = existing {stop}")
    elif kind == "tacotron":
        token = _fresh(unit, "stop_token")
        unit[token] = {"class": "linear", "activation": None, "n_out": 1, "from": _state_sources(unit, choice)}
        stop = _fresh(unit, "stop_token_sigmoid")
        unit[stop] = {"class": "activation", "activation": "sigmoid", "from": token}
        how.append(f"{token} = linear(n_out 1) of {unit[token]['from']}, {stop} = sigmoid({token})")
    else:
        eos = _eos(unit, choice)
        dim = _target_dim(case, _data_target(cdesc))
        if not isinstance(dim, int) or eos >= dim:
            return None
        stop = _fresh(unit, "eos_prob")
        unit[stop] = {"class": "slice", "axis": "F", "slice_start": eos, "slice_end": eos + 1, "from": scores}
        how.append(f"{stop} = slice [{eos}:{eos + 1}] of {scores} (the EOS column)")
        if cdesc.get("input_type") == "log_prob":
            exp = _fresh(unit, "eos_prob_exp")
            unit[exp] = {"class": "activation", "activation": "exp", "from": stop}
            stop = exp
            how.append(f"{stop} = exp of it")

    thr = rng.choice([0.4, 0.4, 0.5])
    steps = rng.choice([5, 5, 3, 1])
    pre_end = _fresh(unit, "pre_end")
    unit[pre_end] = {"class": "compare", "kind": "greater", "from": [stop], "value": thr}
    pre_f = _fresh(unit, "pre_end_float")
    unit[pre_f] = {"class": "cast", "dtype": "float32", "from": [pre_end]}
    acc = _fresh(unit, "accum_end")
    unit[acc] = {"class": "eval", "eval": "source(0) + tf.minimum(tf.maximum(source(1), source(0)), 1)",
                 "from": [f"prev:{acc}", pre_f], "out_type": {"dim": 1, "shape": [1]}}
    how.append(f"{pre_end} = {stop} > {thr}, {acc} = prev:{acc} + min(max({pre_f}, prev:{acc}), 1)")
    mode = rng.choices(["replace", "or", "no-squeeze", "no-out-type"], [0.4, 0.3, 0.15, 0.15])[0]
    if mode == "no-out-type":
        del unit[acc]["out_type"]
        how.append(f"{acc} without its out_type")
    old = _rename_end(unit)
    compare = {"class": "compare", "kind": "greater", "from": [acc], "value": steps}
    if mode == "no-squeeze":
        unit["end"] = compare
        how.append(f"end = {acc} > {steps} (the squeeze forgotten, shape (1,))"
                   + (f", old end kept unused as {old}" if old else ""))
    elif mode == "or" and old is not None:
        cmp_ = _fresh(unit, "end_compare")
        unit[cmp_] = compare
        how.append(f"{cmp_} = {acc} > {steps}")
        sq = _fresh(unit, "end_stop")
        unit[sq] = {"class": "squeeze", "from": [cmp_], "axis": "F"}
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, sq]}
        how.append(f"{sq} = squeeze F of {cmp_}; end = logical_or({old}, {sq}), {old} the old end")
    else:
        cmp_ = _fresh(unit, "end_compare")
        unit[cmp_] = compare
        how.append(f"{cmp_} = {acc} > {steps}")
        unit["end"] = {"class": "squeeze", "from": [cmp_], "axis": "F"}
        how.append(f"end = squeeze F of {cmp_}" + (f" (old end kept unused as {old})" if old else " (new end)"))

    if regression and rng.random() < 0.3:
        src = _sources(cdesc)
        feed = [k for k in _readers(unit, choice, f"prev:{choice}") if k != "end"]
        if len(src) == 1 and src[0] in unit and feed:
            for k in feed:
                _map_refs(unit[k], lambda r, s=src[0]: f"prev:{s}" if r == f"prev:{choice}" else r)
            how.append(f"{', '.join(feed)} read prev:{src[0]} instead of prev:{choice} (pre_slice from prev:output)")
    return new, f"{rec}: " + "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# recomb-key-sources (users/zeyer, exp2022_07_21_transducer RNA configs)


def op_recomb_key_sources(case: Case, rng: random.Random) -> Result:
    """Zeyer's recombination bookkeeping: an emit flag, a label-position state ``u`` and the choice's
    ``explicit_search_sources`` on ``prev:u`` (and ``prev:CHOICE``)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    cdesc = unit[choice]
    blank = _eos(unit, choice)
    how = []
    not_blank = _fresh(unit, "output_is_not_blank")
    unit[not_blank] = {"class": "compare", "from": choice, "value": blank, "kind": "not_equal",
                       "initial_output": True}
    emit = _fresh(unit, "output_emit")
    unit[emit] = {"class": "copy", "from": not_blank, "initial_output": True}
    if rng.random() < 0.6:
        unit[emit]["is_output_layer"] = True
    how.append(f"{not_blank} = {choice} != {blank}, {emit} = copy of it (initial True)")
    du = _fresh(unit, "du")
    u = _fresh(unit, "u")
    const0 = _fresh(unit, "const0")
    const1 = _fresh(unit, "const1")
    for name, value in ((const0, 0), (const1, 1)):
        unit[name] = {"class": "constant", "value": value}
        if rng.random() < 0.7:
            unit[name]["collocate_with"] = [du]
    unit[du] = {"class": "switch", "condition": emit, "true_from": const1, "false_from": const0}
    unit[u] = {"class": "combine", "from": [f"prev:{u}", du], "kind": "add", "initial_output": 0}
    how.append(f"{du} = switch({emit}, {const1}, {const0}), {u} = prev:{u} + {du} (initial 0)")
    form = rng.choices(["train", "search", "du", "keep"], [0.35, 0.35, 0.15, 0.15])[0]
    if form == "train":
        extra = [f"prev:{u}"]
    elif form == "search":
        extra = [f"prev:{u}", f"prev:{choice}"]
    elif form == "du":
        extra = [f"prev:{du}"]
    else:
        extra = []
    if extra:
        old = cdesc.get("explicit_search_sources")
        cdesc["explicit_search_sources"] = extra + (old if isinstance(old, list) else [])
        how.append(f"{choice} gets explicit_search_sources {extra} ({form} form)")
    else:
        unit[u]["is_output_layer"] = True
        how.append(f"{u} only an output layer of the loop (the explicit search sources left out)")
    if rng.random() < 0.5:
        cdesc["length_normalization"] = False
        how.append(f"{choice} length_normalization False")
    if rng.random() < 0.3:
        unit[u]["is_output_layer"] = True
        dec = _fresh(net, f"{rec}_num_labels")
        net[dec] = {"class": "decide", "from": f"{rec}/{u}", "is_output_layer": True}
        how.append(f"root {dec} = decide({rec}/{u})")
    return new, f"{rec}: " + "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# conformer-conv-module (users/michel, models/asr/decoder/conformer_decoder.py)


def op_conformer_conv_module(case: Case, rng: random.Random) -> Result:
    """A Conformer decoder block (half-step FF, convolution module with a causal depth-wise conv) on the label
    embedding of a searching loop."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            for e in _layers(unit):
                desc = unit[e]
                if desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int):
                    continue
                # michel's target_embed reads prev:output; older configs embed this frame's output and
                # their readers take prev:target_embed
                if f"prev:{c}" in _sources(desc) and [k for k in _readers(unit, e) if k != "end"]:
                    sites.append((r, c, e, ""))
                elif c in _sources(desc) and [k for k in _readers(unit, e, f"prev:{e}") if k != "end"]:
                    sites.append((r, c, e, "prev:"))
    if not sites:
        return None
    rec, choice, emb, pre = rng.choice(sites)
    unit = net[rec]["unit"]
    readers = [k for k in _readers(unit, emb, pre + emb) if k != "end"]
    dim = unit[emb]["n_out"]
    i = 1
    while any(k.startswith(f"conformer_decoder_{i:02d}") for k in unit):
        i += 1
    prefix = f"conformer_decoder_{i:02d}"
    how = []
    x = emb

    if rng.random() < 0.5:
        p = f"{prefix}_ffmod_1"
        unit[f"{p}_ln"] = {"class": "layer_norm", "from": x}
        unit[f"{p}_ff1"] = {"class": "linear", "activation": None, "with_bias": True, "from": f"{p}_ln",
                            "n_out": 4 * dim}
        unit[f"{p}_swish"] = {"class": "activation", "activation": "swish", "from": f"{p}_ff1"}
        unit[f"{p}_drop1"] = {"class": "dropout", "from": f"{p}_swish", "dropout": 0.1}
        unit[f"{p}_ff2"] = {"class": "linear", "activation": None, "with_bias": True, "from": f"{p}_drop1",
                            "n_out": dim}
        unit[f"{p}_drop2"] = {"class": "dropout", "from": f"{p}_ff2", "dropout": 0.1}
        unit[f"{p}_half_step"] = {"class": "eval", "eval": "0.5 * source(0)", "from": f"{p}_drop2"}
        unit[f"{p}_res"] = {"class": "combine", "kind": "add", "from": [f"{p}_half_step", x], "n_out": dim}
        x = f"{p}_res"
        how.append(f"half-step FF module {p}_* on {emb}")

    p = f"{prefix}_conv_mod"
    kernel = rng.choice([3, 4, 8, 32])
    unit[f"{p}_ln"] = {"class": "layer_norm", "from": x}
    unit[f"{p}_pointwise_conv1"] = {"class": "linear", "activation": None, "with_bias": True,
                                    "from": f"{p}_ln", "n_out": 2 * dim}
    unit[f"{p}_glu"] = {"class": "gating", "activation": "identity", "from": f"{p}_pointwise_conv1"}
    form = rng.choices(["as-written", "window-left", "window-right", "window-bare"],
                       [0.12, 0.42, 0.36, 0.1])[0]
    if form == "as-written":
        unit[f"{p}_depthwise_conv_input_padded"] = {"class": "pad", "from": f"{p}_glu", "axes": "T",
                                                    "padding": [kernel - 1, 0]}
        unit[f"{p}_depthwise_conv2"] = {"class": "conv", "from": f"{p}_depthwise_conv_input_padded",
                                        "n_out": dim, "filter_size": [kernel], "groups": dim,
                                        "padding": "valid"}
        conv_out = f"{p}_depthwise_conv2"
        how.append(f"depth-wise conv as written: pad T ({kernel - 1}, 0) + conv valid, groups {dim}")
    else:
        win: dict[str, Any] = {"class": "window", "from": f"{p}_glu", "window_size": kernel}
        if form == "window-left":
            win["window_left"] = kernel - 1
        elif form == "window-right":
            win["window_right"] = 0
        unit[f"{p}_window"] = win
        unit[f"{p}_depthwise_conv2"] = {"class": "conv", "from": f"{p}_window", "n_out": dim,
                                        "filter_size": [kernel], "groups": dim, "padding": "valid"}
        unit[f"{p}_depthwise_conv2_merged"] = {"class": "merge_dims", "from": f"{p}_depthwise_conv2",
                                               "axes": "except_batch"}
        conv_out = f"{p}_depthwise_conv2_merged"
        opts = {k: v for k, v in win.items() if k.startswith("window_")}
        how.append(f"depth-wise conv over a recurrent window {opts} + conv valid, groups {dim}, merge_dims")
    unit[f"{p}_swish"] = {"class": "activation", "activation": "swish", "from": conv_out}
    unit[f"{p}_pointwise_conv2"] = {"class": "linear", "activation": None, "with_bias": True,
                                    "from": f"{p}_swish", "n_out": dim}
    unit[f"{p}_drop"] = {"class": "dropout", "from": f"{p}_pointwise_conv2", "dropout": 0.1}
    unit[f"{p}_res"] = {"class": "combine", "kind": "add", "from": [f"{p}_drop", x], "n_out": dim}
    out = f"{p}_res"
    for k in readers:
        _map_refs(unit[k], lambda r, o=pre + out: o if r == pre + emb else r)
    how.append(f"{', '.join(readers)} read {pre}{out} instead of {pre}{emb}")
    if isinstance(unit.get("end"), dict) and rng.random() < 0.25:
        del unit["end"]
        how.append("the loop's end left out (added only without length normalization)")
    return new, f"{rec}: " + "; ".join(how)


FRESH90_OPERATORS: tuple[Op, ...] = (
    Op("stop-accum-end", op_stop_accum_end, 1),
    Op("recomb-key-sources", op_recomb_key_sources, 1),
    Op("conformer-conv-module", op_conformer_conv_module, 1),
)
