"""A sixty-ninth set of edit operators (issue 15, fifteenth session, second part), written and seeded before it
was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

Decoder options of the attention ``RNNDecoder`` builders of rwth-i6/i6_experiments (``users/zeineldeen``: the
older ``recipe.crnn.helpers.zeineldeen`` decoder with ``prior_lm_opts`` / ``ilmt_opts`` / ``trained_scales`` /
``dec_state_no_label_ctx`` / ``add_no_label_ctx_s_to_output`` / ``add_lstm_lm`` / ``relax_att_scale``), each
applied to a searching decoder of our bases the way the builder changes the net dict, names and sizes adapted
to the base (none a variant of an earlier operator; no rule written for any of them):

* ``ilm-prior-net``: the internal-LM estimate of ``_create_prior_net`` with ``prior_lm_opts`` type ``zero``: the
  decoder layers between the loop's attention context (a ``generic_attention`` / ``dot_attention``, or a
  ``merge_dims`` / ``copy`` / ``squeeze`` / ``reinterpret_data`` of one) and the choice's scores (the state, the
  readout, the scores; not the attention's own layers) are cloned as ``prior_X`` (deep copies,
  ``is_output_layer`` dropped; references to cloned layers, ``prev:`` ones included, go to the clones), the
  context replaced by an ``eval`` ``tf.zeros_like`` of it, its previous frame by the builder's ``switch`` on
  ``is_first_frame`` (a ``compare`` of ``:i`` equal 0) between the zeros, or by ``prev:`` of the zeros; maybe
  with ``reuse_params`` of the original layers (``ilmt_opts`` ``share_params``); then either fused
  (``_add_external_LM`` without an LM: a ``combo_output_prob`` ``eval`` ``safe_log(AM) - scale *
  safe_log(prior)``, or ``source(0) - scale * source(1)`` where the choice already takes log-scores; with
  ``trained_scales`` the scale a loop ``variable`` ``prior_scale``; the choice reads it with ``input_type:
  log_prob``), or only trained (ILMT: the prior scores keep the cloned ``loss`` with ``loss_opts`` ``scale``,
  get a ``ce`` loss on the choice's target, or are made an output);
* ``ilm-mini-lstm``: the same with ``prior_lm_opts`` type ``mini_lstm``: the context replaced by ``mini_att``, a
  ``linear`` of ``mini_att_lstm``, a ``rec`` ``nativelstm2`` LSTM over the previous label's embedding (a new
  ``linear`` of ``prev:`` of the choice where the loop has none), its previous frame by ``prev:mini_att``; never
  with shared parameters; fused or ILMT-trained as above;
* ``no-label-state``: ``dec_state_no_label_ctx``: a dense loop state of the decoder (``rnn_cell``, ``rec`` with a
  string unit, or a ``linear`` that also reads a previous frame other than the label's) that reads the
  previous label (``prev:`` of the choice, of its embedding, or an in-frame embedding of ``prev:`` of the
  choice) besides other inputs loses the label inputs; maybe with ``add_lstm_lm`` as there: a new
  ``rnn_cell`` (``LSTMBlock``) ``lm_like_s`` over the dropped label inputs, read by the readout (a dense
  ``linear`` of the scores that reads the state) in place of the state, or beside it
  (``add_no_label_ctx_s_to_output``);
* ``relax-att``: ``relax_att_scale``: an attention's weights (a ``softmax_over_spatial`` of the loop that a
  ``generic_attention`` reads as ``weights``) become ``W0`` and, under the old name (with its
  ``initial_output`` / ``is_output_layer``), an ``eval`` ``(1 - scale) * source(0) + source(1)`` with
  ``scaled_encoder_len`` (an ``eval`` ``scale / source(0)``) of the encoder's ``length`` (``cast`` to float32,
  as the int lengths need here): of ``base:encoder`` (as there), of the attention's value base, or of
  ``base:data``, computed in the loop as there or at the root and read as ``base:``; scale 0.1 / 0.2 / 0.5.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _head,
    _layers,
    _map_refs,
    _refs,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH67_SEED = 20270129
N_FRESH67 = 80

Result = "tuple[Case, str] | None"

_ATT = ("generic_attention", "dot_attention")
_WRAP = ("merge_dims", "copy", "squeeze", "reinterpret_data")
_PARAMS = ("linear", "softmax", "rec", "rnn_cell", "self_attention", "conv")


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"]


def _sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        out.extend((rec, c) for c in _label_choices(unit))
    return out


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    srcs = _sources(unit[choice])
    if len(srcs) == 1 and srcs[0] in unit and isinstance(unit[srcs[0]], dict):
        return srcs[0]
    return None


def _embeds(unit: dict[str, Any], choice: str) -> list[str]:
    """Loop layers that embed this frame's label (all sources the choice)."""
    return [k for k in _layers(unit) if k != choice and unit[k].get("class") in ("linear", "copy", "dropout")
            and _sources(unit[k]) and all(s == choice for s in _sources(unit[k]))]


def _prev_embeds(unit: dict[str, Any], choice: str) -> list[str]:
    """In-frame layers that embed the previous label (all sources ``prev:`` of the choice)."""
    return [k for k in _layers(unit) if unit[k].get("class") in ("linear", "copy", "dropout")
            and _sources(unit[k]) and all(s == f"prev:{choice}" for s in _sources(unit[k]))]


def _label_refs(unit: dict[str, Any], choice: str) -> set[str]:
    out = {f"prev:{choice}"}
    out |= {f"prev:{e}" for e in _embeds(unit, choice)}
    out |= set(_prev_embeds(unit, choice))
    return out


def _ctx_layers(unit: dict[str, Any]) -> list[str]:
    ctx = {k for k in _layers(unit) if unit[k].get("class") in _ATT}
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if k in ctx or unit[k].get("class") not in _WRAP:
                continue
            srcs = _sources(unit[k])
            if len(srcs) == 1 and srcs[0] in ctx:
                ctx.add(k)
                changed = True
    return sorted(ctx)


def _ancestors_upto(unit: dict[str, Any], name: str, stop: set[str]) -> set[str]:
    """``name`` and the loop layers it depends on in the frame, not looking behind the layers in ``stop``
    (the attention's own layers stay out of the decoder chain)."""
    seen = {name}
    stack = [name]
    while stack:
        k = stack.pop()
        if k in stop:
            continue
        for ref in _refs(unit[k]):
            head = _head(ref)
            if head in unit and isinstance(unit[head], dict) and head not in seen:
                seen.add(head)
                stack.append(head)
    return seen


# ----------------------------------------------------------------------------------------------------


def _prior_net(case: Case, rng: random.Random, kind: str) -> Result:
    """``_create_prior_net``: the decoder chain cloned with the attention context replaced."""
    new, net = _copy(case)
    sites = []
    for rec, choice in _sites(net):
        unit = net[rec]["unit"]
        scores = _scores(unit, choice)
        ctx = _ctx_layers(unit)
        if scores and ctx and scores not in ctx:
            sites.append((rec, choice, scores))
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    ctx = set(_ctx_layers(unit))
    anc = _ancestors_upto(unit, scores, ctx)
    chain: set[str] = set()
    changed = True
    while changed:
        changed = False
        for k in sorted(anc - ctx - chain - {choice, "end"}):
            heads = {r.removeprefix("prev:") for r in _refs(unit[k])}
            if heads & (ctx | chain):
                chain.add(k)
                changed = True
    if scores not in chain:
        return None
    share = kind == "zero" and rng.random() < 0.3
    cur: dict[str, str] = {}
    prev: dict[str, str] = {}
    if kind == "zero":
        switch = rng.random() < 0.6
        first = None
        for c in sorted(ctx):
            z = _fresh(unit, f"zero_{c}")
            unit[z] = {"class": "eval", "from": c, "eval": "tf.zeros_like(source(0))"}
            cur[c] = z
            if switch:
                if first is None:
                    first = _fresh(unit, "is_first_frame")
                    unit[first] = {"class": "compare", "from": ":i", "kind": "equal", "value": 0}
                p = _fresh(unit, f"prev_{c}")
                unit[p] = {"class": "switch", "condition": first, "true_from": z, "false_from": z}
                prev[c] = p
            else:
                prev[c] = f"prev:{z}"
        how = "zero context" + (" (previous frame a switch on is_first_frame)" if switch else " (prev: of the zeros)")
    else:
        label_in = sorted(_label_refs(unit, choice) - {f"prev:{choice}"})
        if not label_in:
            emb = _fresh(unit, "mini_embed")
            unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{choice}",
                         "n_out": rng.choice([8, 16])}
            label_in = [emb]
        lstm_in = rng.choice(label_in)
        lstm = _fresh(unit, "mini_att_lstm")
        unit[lstm] = {"class": "rec", "unit": "nativelstm2", "from": lstm_in, "n_out": rng.choice([16, 50])}
        mini = _fresh(unit, "mini_att")
        unit[mini] = {"class": "linear", "activation": None, "from": lstm, "n_out": rng.choice([16, 32, 64])}
        for c in sorted(ctx):
            cur[c] = mini
            prev[c] = f"prev:{mini}"
        how = f"mini-LSTM context ({lstm} over {lstm_in})"
    names = {k: _fresh(unit, f"prior_{k}") for k in sorted(chain)}

    def remap(ref: str) -> str:
        if ref in cur:
            return cur[ref]
        if ref.startswith("prev:") and ref[5:] in prev:
            return prev[ref[5:]]
        if ref in names:
            return names[ref]
        if ref.startswith("prev:") and ref[5:] in names:
            return f"prev:{names[ref[5:]]}"
        head = _head(ref)
        if head in names and ref != head:
            return names[head] + ref[len(head):]
        return ref

    for k in sorted(chain):
        d = copy.deepcopy(unit[k])
        d.pop("is_output_layer", None)
        _map_refs(d, remap)
        if share and d.get("class") in _PARAMS:
            d["reuse_params"] = k
        unit[names[k]] = d
    prior = names[scores]
    log_space = unit[choice].get("input_type") in ("log_prob", "logits")
    mode = rng.choice(["fuse", "fuse", "trained", "ilmt"])
    scale = rng.choice([0.1, 0.2, 0.4])
    if mode == "ilmt":
        d = unit[prior]
        target = unit[choice].get("target")
        if "loss" in d:
            d["loss_opts"] = {**(d.get("loss_opts") or {}), "scale": scale}
            what = f"ILMT only: {prior} keeps its loss (scale {scale})"
        elif isinstance(target, str) and d.get("class") in ("softmax", "linear") and not log_space:
            d.update(loss="ce", target=target, loss_opts={"scale": scale})
            what = f"ILMT only: {prior} gets a ce loss on {target}"
        else:
            d["is_output_layer"] = True
            what = f"ILMT only: {prior} an output"
    else:
        combo = _fresh(unit, "combo_output_prob")
        if log_space:
            expr = "source(0) - {} * source(1)"
        else:
            expr = "safe_log(source(0)) - {} * safe_log(source(1))"
        srcs = [scores, prior]
        if mode == "trained":
            var = _fresh(unit, "prior_scale")
            unit[var] = {"class": "variable", "shape": [], "init": scale}
            srcs.append(var)
            expr = expr.format("source(2)")
            what = f"fused by {combo} with a trained scale {var}"
        else:
            expr = expr.format(scale)
            what = f"fused by {combo} (scale {scale})"
        unit[combo] = {"class": "eval", "from": srcs, "eval": expr}
        unit[choice]["from"] = combo
        unit[choice]["input_type"] = "log_prob"
    share_s = ", reuse_params" if share else ""
    return new, f"{rec}: ILM prior net ({how}{share_s}) cloning {sorted(chain)}; {what}"


def op_no_label_state(case: Case, rng: random.Random) -> Result:
    """``dec_state_no_label_ctx`` (+ ``add_lstm_lm`` / ``add_no_label_ctx_s_to_output``)."""
    new, net = _copy(case)
    sites = []
    for rec, choice in _sites(net):
        unit = net[rec]["unit"]
        labels = _label_refs(unit, choice)
        scores = _scores(unit, choice)
        if not scores:
            continue
        anc = _frame_ancestors(unit, scores) | {scores}
        for k in sorted(anc):
            d = unit[k]
            cls = d.get("class")
            if k in (choice, scores) or k in _prev_embeds(unit, choice):
                continue
            if not (cls == "rnn_cell" or (cls == "rec" and isinstance(d.get("unit"), str))):
                if cls != "linear":
                    continue
                recurrent = [s for s in _sources(d) if s.startswith("prev:") and s not in labels]
                if not recurrent:  # a readout, not a state
                    continue
            srcs = _sources(d)
            if isinstance(d.get("from"), list) and any(not isinstance(s, str) for s in d["from"]):
                continue
            lab = [s for s in srcs if s in labels]
            rest = [s for s in srcs if s not in labels]
            if lab and rest:
                sites.append((rec, choice, k))
    if not sites:
        return None
    rec, choice, state = rng.choice(sites)
    unit = net[rec]["unit"]
    labels = _label_refs(unit, choice)
    srcs = _sources(unit[state])
    lab = [s for s in srcs if s in labels]
    rest = [s for s in srcs if s not in labels]
    unit[state]["from"] = rest if len(rest) > 1 else rest[0]
    how = f"{state} loses its label inputs {lab}"
    scores = _scores(unit, choice)
    anc = _ancestors_upto(unit, scores, set(_ctx_layers(unit)))
    readouts = [k for k in sorted(anc) if k != state and unit[k].get("class") == "linear"
                and state in _sources(unit[k])]
    if readouts and rng.random() < 0.6:
        readout = rng.choice(readouts)
        lm = _fresh(unit, "lm_like_s")
        unit[lm] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": lab if len(lab) > 1 else lab[0],
                    "n_out": rng.choice([16, 32])}
        rsrcs = _sources(unit[readout])
        if rng.random() < 0.5:
            unit[readout]["from"] = [lm if s == state else s for s in rsrcs]
            how += f"; add_lstm_lm: {lm} over them, read by {readout} in place of {state}"
        else:
            unit[readout]["from"] = [lm, *rsrcs]
            how += f"; add_lstm_lm: {lm} over them, read by {readout} beside {state}"
    return new, f"{rec}: dec_state_no_label_ctx: {how}"


def op_relax_att(case: Case, rng: random.Random) -> Result:
    """``relax_att_scale``: attention weights smoothed with a uniform distribution over the encoder frames."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            if unit[k].get("class") != "softmax_over_spatial":
                continue
            atts = [a for a in _layers(unit) if unit[a].get("class") == "generic_attention"
                    and unit[a].get("weights") == k]
            if atts:
                sites.append((rec, k, atts[0]))
    if not sites:
        return None
    rec, weights, att = rng.choice(sites)
    unit = net[rec]["unit"]
    bases = []
    if isinstance(net.get("encoder"), dict):
        bases.append("encoder")
    vb = unit[att].get("base")
    if isinstance(vb, str) and vb.startswith("base:") and vb[5:] in net:
        bases.append(vb[5:])
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict) or "data" in (case.get("num_outputs") or {}):
        bases.append("data")
    if not bases:
        return None
    enc = rng.choice(bases)
    scale = rng.choice([0.1, 0.2, 0.5])
    w0 = _fresh(unit, f"{weights}0")
    old = unit[weights]
    moved = {k: old.pop(k) for k in ("is_output_layer", "initial_output") if k in old}
    unit[w0] = old
    if rng.random() < 0.7:
        length = _fresh(unit, "encoder_len")
        unit[length] = {"class": "length", "from": f"base:{enc}"}
        flt = _fresh(unit, "encoder_len_float")
        unit[flt] = {"class": "cast", "from": length, "dtype": "float32"}
        where = "in the loop"
    else:
        root = _fresh(net, f"{enc}_len")
        net[root] = {"class": "length", "from": enc}
        rflt = _fresh(net, f"{enc}_len_float")
        net[rflt] = {"class": "cast", "from": root, "dtype": "float32"}
        flt = f"base:{rflt}"
        where = "at the root"
    scaled = _fresh(unit, "scaled_encoder_len")
    unit[scaled] = {"class": "eval", "from": flt, "eval": f"{scale} / source(0)"}
    unit[weights] = {"class": "eval", "from": [w0, scaled], "eval": f"{1 - scale:g} * source(0) + source(1)",
                     **moved}
    return new, (f"{rec}: relax_att_scale {scale}: {weights} becomes {w0} smoothed by 1/length of "
                 f"{enc} ({where})")


def op_ilm_prior_net(case: Case, rng: random.Random) -> Result:
    """``prior_lm_opts`` type ``zero``."""
    return _prior_net(case, rng, "zero")


def op_ilm_mini_lstm(case: Case, rng: random.Random) -> Result:
    """``prior_lm_opts`` type ``mini_lstm``."""
    return _prior_net(case, rng, "mini_lstm")


FRESH67_OPERATORS: tuple[Op, ...] = (
    Op("ilm-prior-net", op_ilm_prior_net, 1),
    Op("ilm-mini-lstm", op_ilm_mini_lstm, 1),
    Op("no-label-state", op_no_label_state, 1),
    Op("relax-att", op_relax_att, 1.2),
)
