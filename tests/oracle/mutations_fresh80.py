"""An eighty-second set of edit operators (issue 15, seventeenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Search networks from RETURNN's own tests and demos other than ``test_TFNetworkRecLayer.py`` /
``test_TFNetworkLayer.py`` and other than the set-ups fresh64 took (OCD tables, the Gaussian window, the dot
attention and its subnetwork forms, the search-score loss): the search-net construction tests
``test_rec_subnet_construct_1`` / ``_2`` / ``_3`` and ``test_search_output_file`` of ``tests/test_TFEngine.py``,
the ``compile_tf_graph`` configs of ``tests/test_tools.py``, and ``demos/demo-tf-rec-explicit-lstm.config``,
``demos/demo-tf-rec-self-att.config`` and ``demos/demo-tf-enc-dec.config``, grafted onto a searching decoder of
our bases with the construct's own options (sizes adapted); the tests' correct forms and the mistakes around
them (none a variant of an earlier operator; no rule was written for any of them):

* ``post-label-state``: a decoder state computed after the frame's label, as in ``test_rec_subnet_construct_*``
  (the search net built for SearchChoices.translate_to_common_search_beam with the prev-layer template) and the
  delayed transducer config of ``test_tools.py``: a label embedding of this frame's choice (``linear`` without
  bias, ``initial_output`` 0, as ``target_embed``), a cell over it (and over a context or state of the frame
  the choice's scores depend on, where there is one) and then: construct_1: a second ``LSTMBlock`` cell ``s2``
  over the first, the scores' layer reading ``prev:s2`` and a ``linear`` of ``get_last_hidden_state`` of
  ``prev:s2`` (``n_out`` twice the cell size); construct_2: the same, the hidden state of ``prev:`` of the
  first cell; construct_3: ``s2`` over ``prev:`` of the first cell, ``prev:`` of the embedding and the frame's
  context, read by the scores' layer in this frame; delayed: an ``lstm`` ``rec`` over the embedding and
  ``prev:`` of the frame's state, the scores' layer reading its previous frame;
* ``explicit-lstm``: a loop cell (``rnn_cell``, or ``rec`` with a string unit) written out as in
  ``demo-tf-rec-explicit-lstm.config`` under its old name: an ``input`` ``copy`` of its sources and its own
  ``prev:`` output, sigmoid ``linear`` gates (input, forget, output), a ``tanh`` ``linear`` cell input, the
  memory ``c`` an ``eval`` ``source(0) * source(1) + source(2) * source(3)`` over the gates and ``prev:c`` and the
  output an ``eval`` of the output gate times ``c`` (or times ``tf.tanh(c)``); or as in
  ``demo-tf-rec-self-att.config``: the ``input`` also holds a left-only ``self_attention`` over a ``copy`` of
  ``prev:`` of the output and the cell's sources (``num_heads`` dividing the size); the memory maybe with ``initial_output``
  0 written out; the cell's readers (``prev:`` ones included) read the new output;
* ``enc-summary``: an attention-free summary of the encoder as in ``demo-tf-enc-dec.config`` (a ``nativelstm2``
  ``rec`` over an encoder layer the decoder reads and its ``get_last_hidden_state``, ``n_out`` twice the LSTM
  size) or as in the ``compile_tf_graph`` config of ``test_tools.py`` / ``check_engine_search`` (a sigmoid
  ``linear`` of 3 units over the encoder layer, ``reduce`` ``max`` over ``t``), read through ``base:`` as an extra
  source by a dense layer of the loop (the scores' layer, or a state the choice depends on), directly or through
  a loop ``copy`` of it;
* ``output-file-layers``: the root output section of ``test_search_output_file``: a second ``decide`` of the
  decoder with a ``target`` of its own (another sparse key of the case with the same vocabulary, else the
  choice's key; as a mistake, a key of another size with an ``edit_distance`` loss), a ``decide`` followed by a
  ``reinterpret_data`` with ``set_sparse_dim`` (the vocabulary size) and the target (as a mistake, the
  ``reinterpret_data`` straight on the beamed decoder), or a root ``copy`` of the choice's scores by path
  (``REC/SCORES``, ``target: None``) with the loop layer marked ``is_output_layer`` as in the test, or not; all
  marked output layers.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH80_SEED = 20270142
N_FRESH80 = 80

Result = "tuple[Case, str] | None"

_CELLS = ("LSTMBlock", "lstm", "standardlstm", "nativelstm2", "NativeLSTM", "NativeLstm2", "LSTMBlockFused",
          "BasicLSTM", "GRU", "gru")
_CONTEXTS = ("rnn_cell", "generic_attention", "dot_attention")
_FEED = ("linear", "softmax", "rnn_cell")


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names a data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_sites(net: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(searching rec, label choice, the choice's scores layer in the unit) of every label choice."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            if desc.get("input_type") == "regression" or _data_target(desc) is None:
                continue
            srcs = [s for s in _sources(desc) if s in unit]
            if len(srcs) == 1:
                out.append((rec, c, srcs[0]))
    return out


def _feed_layer(unit: dict[str, Any], scores: str) -> str | None:
    """The layer that gets the new input: the scores' layer where it learns its input size, else the nearest
    such layer it reads (sorted by name)."""
    if unit[scores].get("class") in _FEED[:2]:
        return scores
    cands = [k for k in sorted(_frame_ancestors(unit, scores))
             if unit[k].get("class") in _FEED and not unit[k].get("reuse_params")]
    return cands[0] if cands else None


def _contexts(unit: dict[str, Any], layer: str) -> list[str]:
    """Frame ancestors of ``layer`` that are dense per-frame vectors (cells, attention contexts)."""
    out = []
    for k in sorted(_frame_ancestors(unit, layer)):
        cls = unit[k].get("class")
        if cls in _CONTEXTS or (cls == "rec" and isinstance(unit[k].get("unit"), str)):
            out.append(k)
    return out


def op_post_label_state(case: Case, rng: random.Random) -> Result:
    """A state computed after the frame's label, read by the scores in the next frame (or its second cell read
    in this frame)."""
    new, net = _copy(case)
    sites = []
    for rec, c, scores in _label_sites(net):
        feed = _feed_layer(net[rec]["unit"], scores)
        if feed is not None:
            sites.append((rec, c, scores, feed))
    if not sites:
        return None
    rec, choice, scores, feed = rng.choice(sites)
    unit = net[rec]["unit"]
    ctxs = _contexts(unit, feed)
    ctx = rng.choice(ctxs) if ctxs and rng.random() < 0.75 else None
    dim = rng.choice([10, 20])
    form = rng.choice(["construct_1", "construct_2", "construct_3", "delayed"])
    emb = _fresh(unit, "target_embed")
    unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": choice, "n_out": 6,
                 "initial_output": 0}
    s = _fresh(unit, "s_post")
    s2 = _fresh(unit, "s2_post")
    with_ctx = [emb] + ([ctx] if ctx else [])
    if form == "delayed":
        state = ctx or feed
        unit[s2] = {"class": "rec", "unit": "lstm", "from": [emb, f"prev:{state}"], "n_out": dim}
        _add_source(unit[feed], f"prev:{s2}")
        return new, (f"{rec}: delayed label state {s2} (lstm over {emb}, the embedding of this frame's {choice}, "
                     f"and prev:{state}); {feed} reads prev:{s2}")
    unit[s] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": with_ctx, "n_out": dim}
    if form == "construct_3":
        unit[s2] = {"class": "rnn_cell", "unit": "LSTMBlock",
                    "from": [f"prev:{s}", f"prev:{emb}"] + ([ctx] if ctx else []), "n_out": dim}
        _add_source(unit[feed], s2)
        return new, (f"{rec}: {s} (LSTMBlock over {', '.join(with_ctx)}; {emb} embeds this frame's {choice}), "
                     f"{s2} over prev:{s}, prev:{emb}{', ' + ctx if ctx else ''}; {feed} reads {s2}")
    unit[s2] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": s, "n_out": dim}
    hidden_of = s2 if form == "construct_1" else s
    state = _fresh(unit, "prev_s_state")
    proj = _fresh(unit, "prev_s_transformed")
    unit[state] = {"class": "get_last_hidden_state", "from": f"prev:{hidden_of}", "n_out": 2 * dim}
    unit[proj] = {"class": "linear", "activation": None, "with_bias": False, "from": state, "n_out": dim}
    _add_source(unit[feed], f"prev:{s2}")
    _add_source(unit[feed], proj)
    return new, (f"{rec} ({form}): {s} (LSTMBlock over {', '.join(with_ctx)}; {emb} embeds this frame's "
                 f"{choice}), {s2} over {s}; {feed} reads prev:{s2} and {proj} (linear of get_last_hidden_state "
                 f"of prev:{hidden_of})")


def _cell_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(searching rec, loop cell) for cells with an int size, dense sources and no hidden-state readers."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        choices = set(_unit_choices(unit))
        for k in _layers(unit):
            desc = unit[k]
            cls = desc.get("class")
            if not (cls == "rnn_cell" or (cls == "rec" and isinstance(desc.get("unit"), str))):
                continue
            if not isinstance(desc.get("n_out"), int) or not _sources(desc) or desc.get("initial_state"):
                continue
            if any(s.startswith("base:") or s.startswith("data") or (s.removeprefix("prev:") in choices)
                   for s in _sources(desc)):
                continue
            readers = set(_readers(unit, k)) | set(_readers(unit, k, f"prev:{k}"))
            if any(unit[r].get("class") == "get_last_hidden_state" for r in readers):
                continue
            out.append((rec, k))
    return out


def op_explicit_lstm(case: Case, rng: random.Random) -> Result:
    """A loop cell written out as gates and a memory with ``prev:`` (the explicit-LSTM demos)."""
    new, net = _copy(case)
    sites = _cell_sites(net)
    if not sites:
        return None
    rec, cell = rng.choice(sites)
    unit = net[rec]["unit"]
    old = unit.pop(cell)
    n = old["n_out"]
    srcs = _sources(old)
    names = [k for k in unit] + [cell]
    inp = _fresh(names, f"{cell}_input")
    names.append(inp)
    gates = {}
    for g in ("input_gate", "forget_gate", "output_gate", "cell_in"):
        gates[g] = _fresh(names, f"{cell}_{g}")
        names.append(gates[g])
    mem = _fresh(names, f"{cell}_c")
    in_srcs = [f"prev:{cell}", *srcs]
    how = "demo-tf-rec-explicit-lstm"
    if rng.random() < 0.35:
        heads = rng.choice([h for h in (1, 2, 4) if n % h == 0])
        sa = _fresh(names + [mem], f"{cell}_self_att")
        sa_in = _fresh(names + [mem, sa], f"{cell}_self_att_in")
        unit[sa_in] = {"class": "copy", "from": [f"prev:{cell}", *srcs]}
        unit[sa] = {"class": "self_attention", "attention_left_only": True, "from": sa_in,
                    "num_heads": heads, "total_key_dim": n, "n_out": n}
        in_srcs = [f"prev:{cell}", sa, *srcs]
        how = f"demo-tf-rec-self-att ({sa}: left-only self_attention, {heads} heads, over {sa_in})"
    unit[inp] = {"class": "copy", "from": in_srcs}
    for g in ("input_gate", "forget_gate", "output_gate"):
        unit[gates[g]] = {"class": "linear", "from": inp, "activation": "sigmoid", "n_out": n}
    unit[gates["cell_in"]] = {"class": "linear", "from": inp, "activation": "tanh", "n_out": n}
    unit[mem] = {"class": "eval", "from": [gates["input_gate"], gates["cell_in"], gates["forget_gate"],
                                           f"prev:{mem}"],
                 "eval": "source(0) * source(1) + source(2) * source(3)"}
    if rng.random() < 0.3:
        unit[mem]["initial_output"] = 0
        how += ", memory initial_output 0"
    squash = rng.random() < 0.4
    unit[cell] = {"class": "eval", "from": [gates["output_gate"], mem],
                  "eval": "source(0) * tf.tanh(source(1))" if squash else "source(0) * source(1)"}
    for key in ("is_output_layer", "dropout"):
        if key in old:
            unit[cell][key] = old[key]
    return new, (f"{rec}/{cell} ({old.get('class')} {old.get('unit')!r}, {n} units) written out as an explicit "
                 f"LSTM ({how}): {inp} copy of {in_srcs}, sigmoid gates, memory {mem} over prev:{mem}, output "
                 f"{'o * tanh(c)' if squash else 'o * c'}")


def _encoder_reads(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers with an int ``n_out`` the loop reads through ``base:`` (directly)."""
    out = set()
    for desc in net[rec]["unit"].values():
        if not isinstance(desc, dict):
            continue
        for key in ("from", "base", "base_ctx", "keys", "values"):
            val = desc.get(key)
            for ref in ([val] if isinstance(val, str) else val if isinstance(val, list) else []):
                if isinstance(ref, str) and ref.startswith("base:") and not ref.startswith("base:data"):
                    name = ref[len("base:"):]
                    if name in net and isinstance(net[name].get("n_out"), int) \
                            and net[name].get("class") in ("linear", "copy", "rec", "layer_norm", "activation",
                                                           "combine", "conv", "dropout"):
                        out.add(name)
    return sorted(out)


def op_enc_summary(case: Case, rng: random.Random) -> Result:
    """An encoder summary (last LSTM state, or max over time) read by a dense loop layer."""
    new, net = _copy(case)
    sites = []
    for rec, c, scores in _label_sites(net):
        feed = _feed_layer(net[rec]["unit"], scores)
        encs = _encoder_reads(net, rec)
        if feed is not None and encs:
            sites.append((rec, scores, feed, encs))
    if not sites:
        return None
    rec, scores, feed, encs = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(encs)
    if rng.random() < 0.55:
        dim = rng.choice([10, 20])
        lstm = _fresh(net, f"{enc}_lstm")
        net[lstm] = {"class": "rec", "unit": "nativelstm2", "from": enc, "n_out": dim}
        summary = _fresh(net, f"{enc}_last")
        net[summary] = {"class": "get_last_hidden_state", "from": lstm, "n_out": 2 * dim}
        how = f"get_last_hidden_state of {lstm} (nativelstm2 over {enc}), as demo-tf-enc-dec's input_last"
    else:
        proj = _fresh(net, f"{enc}_enc0")
        net[proj] = {"class": "linear", "activation": "sigmoid", "n_out": 3, "from": enc}
        summary = _fresh(net, f"{enc}_enc1")
        net[summary] = {"class": "reduce", "mode": "max", "axis": "t", "from": proj}
        how = f"max over t of {proj} (sigmoid linear of {enc}), as enc1 of the compile_tf_graph config"
    ctxs = [k for k in _contexts(unit, feed) if unit[k].get("class") != "generic_attention"
            and unit[k].get("class") != "dot_attention"]
    target = rng.choice([feed] + ctxs) if ctxs and rng.random() < 0.4 else feed
    ref = f"base:{summary}"
    if rng.random() < 0.2:
        ref = _fresh(unit, "enc_summary")
        unit[ref] = {"class": "copy", "from": f"base:{summary}"}
        how += f"; through a loop copy {ref}"
    _add_source(unit[target], ref)
    return new, f"{rec}/{target} also reads {ref}: {how}"


def op_output_file_layers(case: Case, rng: random.Random) -> Result:
    """Root output layers of ``test_search_output_file`` on a searching decoder."""
    new, net = _copy(case)
    sites = [(rec, c, scores) for rec, c, scores in _label_sites(net)
             if net[rec]["unit"].get("output") is not None]
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    key = _data_target(unit[choice])
    dim = _target_dim(case, key)
    # the rec's output must be the label for the decide / sparse-dim forms
    out_is_label = unit["output"].get("class") == "choice" or (
        unit["output"].get("class") == "copy" and _sources(unit["output"]) == [choice])
    kinds = ["probs"]
    if out_is_label and dim is not None:
        kinds += ["decision2", "decision3", "decision3-no-decide", "decision2-wrong"]
    kind = rng.choice(kinds)
    if kind == "probs":
        probs = _fresh(net, "probs")
        net[probs] = {"class": "copy", "from": f"{rec}/{scores}", "is_output_layer": True, "target": None}
        mark = rng.random() < 0.6
        if mark:
            unit[scores]["is_output_layer"] = True
        return new, (f"root {probs}: copy of {rec}/{scores} (the choice's scores, target None), an output layer"
                     f"{'; the loop layer marked is_output_layer' if mark else ''}")
    if kind.startswith("decision2"):
        others = [k for k in _sparse_keys(case) if k != key and _target_dim(case, k) == dim]
        if kind == "decision2-wrong":
            others = [k for k in _sparse_keys(case) if k != key and _target_dim(case, k) not in (None, dim)]
            others = others or [k for k in sorted(case.get("extern_data") or {}) if k != key
                                and k not in _sparse_keys(case)]
            if not others:
                return None
        tgt = rng.choice(others) if others else key
        dec = _fresh(net, "decision2")
        net[dec] = {"class": "decide", "from": rec, "is_output_layer": True, "target": tgt}
        if kind == "decision2-wrong" or rng.random() < 0.4:
            net[dec]["loss"] = "edit_distance"
        return new, (f"root {dec}: decide of {rec} with target {tgt!r}{' and edit_distance loss' if 'loss' in net[dec] else ''}"
                     f" (the choice's key {key!r}, {dim} labels), an output layer")
    out = _fresh(net, "decision3")
    if kind == "decision3":
        dec = _fresh(net, "_decision3")
        net[dec] = {"class": "decide", "from": rec}
        net[out] = {"class": "reinterpret_data", "from": dec, "is_output_layer": True, "target": key,
                    "set_sparse_dim": dim}
        return new, (f"root {out}: reinterpret_data (set_sparse_dim {dim}, target {key!r}) of {dec}, a decide of "
                     f"{rec}, an output layer")
    net[out] = {"class": "reinterpret_data", "from": rec, "is_output_layer": True, "target": key,
                "set_sparse_dim": dim}
    return new, (f"root {out}: reinterpret_data (set_sparse_dim {dim}, target {key!r}) of the beamed {rec} (no "
                 f"decide), an output layer")


FRESH80_OPERATORS: tuple[Op, ...] = (
    Op("post-label-state", op_post_label_state, 1),
    Op("explicit-lstm", op_explicit_lstm, 3),
    Op("enc-summary", op_enc_summary, 2.5),
    Op("output-file-layers", op_output_file_layers, 1),
)
