"""A hundred-and-eighteenth set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Deep fusion and cold fusion of a language model inside a searching decoder (not shallow fusion of
scores, which earlier sets used): an LM written as its own recurrent sub-structure in the unit (an
``rnn_cell`` or a ``rec`` layer with a string ``unit`` stepped once per frame, or an LM ``subnetwork`` in the
unit, as the LM-integration configs of rwth-i6/returnn-experiments ``2020-lm-integration`` write it:
``"lm_output": {"class": "subnetwork", "from": ["prev:output"], "trainable": False, "subnetwork": {"input":
..., "lstm0": {"class": "rnn_cell", "unit": "LSTMBlock", ...}, "output": ...}}``), fed the chosen label
through ``prev:``, whose hidden state (not its scores) is gated into the decoder state or the pre-softmax
layer (Gulcehre et al. 2015 deep fusion: a gate from the LM state; Sriram et al. 2017 cold fusion: a gate
from the decoder state and the LM logits projected), the LM state reset at end-of-sentence or set at the
start (``initial_state``), the LM frozen (``trainable: False``) or its embedding shared with the decoder's
through ``reuse_params``, and the mistakes users make (the LM fed the current label, or the target of the
training config; the gate reading the LM state of another frame than the one it gates). Sources:
``RnnCellLayer`` (``get_rec_initial_state`` / ``get_rec_initial_state_inner``, ``transform_initial_state``),
``RecLayer`` with a string unit inside a loop (``_rec_previous_layer.rec_vars_outputs["state"]``),
``SubnetworkLayer``, ``GatingLayer``, ``SwitchLayer`` in the installed ``returnn/tf/layers/{basic,rec}.py``;
the ``lm_output`` subnetwork of ``2020-lm-integration/lstm_lm_local.config`` (rwth-i6/returnn-experiments)
and the RWTH LM-fusion decoders of rwth-i6/i6_experiments. Where the base keeps a twin of the decoder that
shares its parameters (``extra.search:REC``), every operator makes the same loop edits there too. None is a
variant of an earlier operator; no rule was written for any of them:

* ``deep-fusion-cell``: Gulcehre deep fusion with the LM as a recurrent cell of the unit: an LM embedding
  (a ``linear`` of ``prev:CHOICE``; or sharing the decoder's label embedding through ``reuse_params``; or,
  the mistakes, of this frame's ``CHOICE`` with the fused state read as ``prev:``, or of the target key
  ``data:TARGET`` left from the LM's training config), stepped by an ``rnn_cell`` (``LSTMBlock`` /
  ``BasicLSTM`` / ``GRU``) or a ``rec`` with a string unit (``nativelstm2`` / ``lstm`` / ``GRU``),
  maybe ``trainable: False``, maybe with an ``initial_state`` (``"zeros"``, ``"var"``, a root layer through
  ``base:`` from the encoder, per LSTM part a dict); a gate from the LM state (or from ``prev:`` of it, one
  frame off): a vector ``sigmoid`` gate times the state (``combine`` ``mul``), a ``gating`` layer of the state
  and a gate projection, or Gulcehre's scalar gate (``n_out`` 1); the gated state is an extra source of the
  pre-softmax layer (the choice's scores layer or the readout it reads) or of a recurrent decoder state
  (same frame or ``prev:``). A quarter of the LMs fed ``prev:CHOICE`` come with the ``choice`` their
  LM-generation unit ends in (a ``choice`` over an LM ``softmax`` with the target, beam 1, 2 or the
  decoder's): the LM then fed ``prev:`` of its own choice instead of the decoder's label (searching, or
  ``search: False``), or still the decoder's label with its choice left dangling in the unit. The root start
  state is the set-up of rwth-i6/returnn#190 ("Initial state cannot be taken from base layer": an LSTM in the
  searching loop initialised from a root layer that is not extended by the beam). Targets: ``RnnCellLayer`` /
  ``RecLayer`` one-step state in a searching loop (the state selected by the beam),
  ``get_rec_initial_state_inner`` of a root layer (no beam) as the state of a beamed cell, the
  search-choice resolution of the label history (``translate_to_common_search_beam``, the ``ChoiceLayer``
  beam checks with two choices in a frame), the target key in search (``DataNotAvailableLayer``).
* ``cold-fusion-gate``: Sriram cold fusion: an LM cell as above, its logits (a ``linear`` with the
  vocabulary's ``n_out``; or, copied from an LM config, a ``softmax`` with the ``target``; or a
  ``log_softmax``), projected (``linear`` ``relu``), a gate from the decoder state and the projection (or
  from ``prev:`` of the decoder state, or the projection alone), the gated projection concatenated with the
  decoder state (``copy``) and a ``relu`` layer over both replacing the decoder state among the scores
  layer's sources (the LM logits read as ``prev:`` where the LM took this frame's label). Targets: as
  above, and ``GatingLayer`` / ``CombineLayer`` of beamed loop layers of different frames.
* ``lm-subnet-fusion``: the LM as a ``subnetwork`` of the unit (the ``lm_output`` form of the
  LM-integration config: ``input`` a ``linear`` of the subnetwork's input, one or two ``rnn_cell`` LSTMs, an
  ``output`` ``linear`` over the vocabulary, ``trainable: False``, maybe ``n_out`` on the subnetwork; or a
  hand-written recurrence inside it: ``lstm0`` a ``tanh`` ``linear`` of ``input`` and ``prev:lstm0``); where the
  base already has such an LM (shallow fusion), that one is reused. Its hidden state is read by path
  (``lm_output/lstm0``, or ``prev:lm_output/lstm0``) and gated, or its logits (the subnetwork's output)
  projected and gated, into the pre-softmax layer or the decoder state; fed ``prev:CHOICE``, the decoder's
  embedding of the previous label, this frame's ``CHOICE`` (read by ``prev:``) or ``data:TARGET``; or (a
  quarter of those fed ``prev:CHOICE``) the LM-generation net copied whole, its ``output`` a ``choice`` over
  its ``softmax`` sub-layer ``prob`` (the logits then read as ``lm_output/prob``), the subnetwork mostly fed
  ``prev:`` of itself (with ``initial_output: "zeros"``), its own choice, instead of the decoder's label. Targets:
  ``SubnetworkLayer`` in a searching loop (its sub-layers' rec states, sub-layer paths with ``prev:``,
  search choices of a sub-layer), and the checks above.
* ``lm-eos-reset-fusion``: an LM state that is reset at end-of-sentence, deep-fused into the decoder: the
  LM recurrence written by hand (``lm_h`` a ``tanh`` ``linear`` of the LM embedding and a ``switch`` that
  takes a reset value, ``0`` or a root start state read through ``base:``, where ``prev:CHOICE`` is the EOS
  label or, now and then, where ``prev:end`` is set, else ``prev:lm_h``), or the reset decided after the frame's choice
  (``switch`` on ``CHOICE == EOS`` over ``lm_h``, read back as ``prev:``), or only the output of an
  ``rnn_cell`` LM zeroed after EOS (its cell state runs on); gated into the pre-softmax layer or the decoder
  state. Targets: ``SwitchLayer`` with a ``condition`` from the choice (``select_if_needed`` /
  ``translate_to_common_search_beam`` of non-``from`` options), ``prev:end`` in a searching loop, the
  prev-frame search-choice resolution of the LM state.
"""

from __future__ import annotations

import copy
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
    _recs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH116_SEED = 20270178
N_FRESH116 = 80

Result = "tuple[Case, str] | None"

#: Classes of loop layers that take an extra dense source without changing what they are.
_DENSE = ("linear", "softmax", "rnn_cell")


# ----------------------------------------------------------------------------------------------------
# Sites


def _data_target(desc: dict[str, Any]) -> str | None:
    """A choice's target when it names one data key (not ``layer:`` nor a list)."""
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a data key (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    """The loop layer a choice with one plain source scores."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    return srcs[0]


def _takes_source(desc: dict[str, Any]) -> bool:
    """A dense loop layer one more ``from`` source does not break (no shared parameters, a plain ``from``)."""
    cls = desc.get("class")
    if "reuse_params" in desc or not _sources(desc):
        return False
    if cls == "rec":
        return isinstance(desc.get("unit"), str)
    return cls in _DENSE


def _ours(name: str) -> bool:
    """A layer an operator of this set added (an LM part or a fusion layer): not a fusion point itself."""
    return name.startswith(("lm_", "cf_"))


def _presoftmax_sites(unit: dict[str, Any], choice: str) -> list[str]:
    """The choice's scores layer (a ``softmax`` / ``linear`` over the readout) and the dense loop layers it
    reads in the same frame (the readout)."""
    scores = _scores(unit, choice)
    if scores is None:
        return []
    out = [scores] if _takes_source(unit[scores]) and not _ours(scores) else []
    for src in _sources(unit[scores]):
        if (src in unit and isinstance(unit[src], dict) and src != choice and _takes_source(unit[src])
                and not _ours(src)):
            out.append(src)
    return out


def _state_sites(unit: dict[str, Any], choice: str) -> list[str]:
    """Recurrent decoder states the choice depends on: dense loop layers of its frame that are read
    through ``prev:`` (or are cells with a state of their own), not those that read the label itself."""
    before = _frame_ancestors(unit, choice)
    out = []
    for k in sorted(before):
        desc = unit.get(k)
        if not isinstance(desc, dict) or not _takes_source(desc) or _ours(k):
            continue
        if any(s == f"prev:{choice}" or s == choice for s in _sources(desc)):
            continue
        own_state = desc.get("class") in ("rnn_cell", "rec")
        if own_state or _readers(unit, k, f"prev:{k}"):
            out.append(k)
    return out


def _label_embedding(unit: dict[str, Any], choice: str) -> tuple[str, bool] | None:
    """The decoder's label embedding: (a ``linear`` of ``prev:CHOICE`` or of ``CHOICE``, whether it reads
    the current label)."""
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int):
            continue
        srcs = _sources(desc)
        if srcs == [f"prev:{choice}"]:
            return k, False
        if srcs == [choice]:
            return k, True
    return None


def _fusion_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, choice) of label choices with a pre-softmax layer or a decoder state to fuse into."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            if _presoftmax_sites(unit, c) or _state_sites(unit, c):
                out.append((rec, c))
    return out


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _dense_data(case: Case) -> bool:
    """Whether the input ``data`` is dense features (not labels)."""
    ext = (case.get("extern_data") or {}).get("data")
    if isinstance(ext, dict):
        return not (ext.get("sparse") or ext.get("sparse_dim"))
    num = (case.get("num_outputs") or {}).get("data")
    return isinstance(num, list) and num[1:] != [1]


def _encoder(case: Case, net: dict[str, Any], rec: str) -> str | None:
    """A root sequence the decoder attends to (read through ``base:``, not a reduced one), else dense
    ``data``, else None."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for ref in _sources(desc) + [desc.get("base")] + [desc.get("keys")]:
                if isinstance(ref, str) and ref.startswith("base:") and not ref.startswith("base:data"):
                    name = ref[len("base:"):].split("/", 1)[0]
                    root = net.get(name)
                    if isinstance(root, dict) and root.get("class") not in ("rec", "reduce", "decide", "choice"):
                        found.append(name)
    if found:
        return min(found)
    return "data" if _dense_data(case) else None


def _root_start_state(case: Case, net: dict[str, Any], rec: str, d: int, what: str) -> str | None:
    """A root layer (batch, d) computed from the encoder's mean: an LM start state read through ``base:``."""
    enc = _encoder(case, net, rec)
    if enc is None:
        return None
    mean = _fresh(net, f"{enc}_mean_{what}")
    net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
    name = _fresh(net, f"lm_{what}0")
    net[name] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": d}
    return name


def _twins(net: dict[str, Any], rec: str) -> list[str]:
    """The same decoder under another name that shares its parameters (``extra.search:REC`` beside ``REC``)."""
    name = rec.split(":", 1)[1] if rec.startswith("extra.") and ":" in rec else rec
    return [k for k in _recs(net) if k != rec and (k == name or (k.startswith("extra.") and k.split(":", 1)[-1] == name))]


def _mirror(old_net: dict[str, Any], net: dict[str, Any], rec: str) -> str:
    """Make the loop edits of ``rec`` in its twins too (as a user edits both copies of the decoder); a note
    for the description."""
    old, new = old_net[rec]["unit"], net[rec]["unit"]
    twins = _twins(net, rec)
    for twin in twins:
        unit = net[twin]["unit"]
        for name, desc in new.items():
            if old.get(name) != desc:
                unit[name] = copy.deepcopy(desc)
    return f" (the same edits in {', '.join(twins)}, which shares its parameters)" if twins else ""


# ----------------------------------------------------------------------------------------------------
# Building blocks: the LM's input, its cell, the gate, the fusion point


def _lm_input(unit: dict[str, Any], choice: str, target: str, rng: random.Random,
              kinds: tuple[float, float, float, float] = (0.6, 0.15, 0.15, 0.1)) -> tuple[str, bool, str]:
    """Add the LM's label embedding: (its name, whether it reads this frame's label, how)."""
    kind = rng.choices(["prev", "shared", "current", "target"], kinds)[0]
    emb = _label_embedding(unit, choice)
    name = _fresh(unit, "lm_embed")
    n_emb = rng.choice([4, 6])
    if kind == "shared" and emb is not None:
        dec_emb = unit[emb[0]]
        desc: dict[str, Any] = {"class": "linear", "activation": dec_emb.get("activation"),
                                "from": f"prev:{choice}", "n_out": dec_emb["n_out"], "reuse_params": emb[0]}
        if "with_bias" in dec_emb:
            desc["with_bias"] = dec_emb["with_bias"]
        unit[name] = desc
        return name, False, f"{name} (prev:{choice}, sharing the decoder embedding {emb[0]} by reuse_params)"
    if kind == "current":
        unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": choice, "n_out": n_emb}
        return name, True, f"{name} (of this frame's {choice}: the LM fed the current label)"
    if kind == "target":
        unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": f"data:{target}",
                      "n_out": n_emb}
        return name, False, f"{name} (of data:{target}, the LM's training input left in)"
    unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": f"prev:{choice}",
                  "n_out": n_emb}
    return name, False, f"{name} (prev:{choice})"


def _lm_own_choice(unit: dict[str, Any], choice: str, emb: str, lm: str, target: str, rng: random.Random,
                   probs: str | None = None) -> str:
    """The LM block copied with the ``choice`` its LM-generation unit ends in (a choice over the LM's own
    softmax): the LM then fed its own choice instead of the decoder's (``prev:`` of it), fed greedily
    (``search: False``), or fed the decoder's label with the LM's choice left dangling in the unit."""
    if probs is None:
        probs = _fresh(unit, "lm_prob")
        unit[probs] = {"class": "softmax", "from": lm, "target": target}
    own = _fresh(unit, "lm_choice")
    beam = unit[choice].get("beam_size")
    k = rng.choice([1, beam if isinstance(beam, int) else 4, 2])
    unit[own] = {"class": "choice", "from": probs, "target": target, "beam_size": k, "initial_output": 0}
    mode = rng.choices(["fed", "greedy", "dangling"], [0.55, 0.2, 0.25])[0]
    if mode == "greedy":
        unit[own]["search"] = False
    if mode != "dangling":
        unit[emb]["from"] = f"prev:{own}"
    how = {"fed": f"{emb} fed prev:{own} instead of the decoder's label",
           "greedy": f"{emb} fed prev:{own} (search False) instead of the decoder's label",
           "dangling": f"{emb} still fed prev:{choice}, {own} left in"}[mode]
    return f"the LM's own choice {own} (beam {k}) over {probs}: {how}"


def _lm_cell(case: Case, net: dict[str, Any], rec: str, src: str, d: int, rng: random.Random) -> tuple[str, str]:
    """Add the LM's recurrent cell over ``src`` (an ``rnn_cell`` or a ``rec`` with a string unit)."""
    unit = net[rec]["unit"]
    name = _fresh(unit, "lm_state")
    if rng.random() < 0.6:
        cell = rng.choice(["LSTMBlock", "BasicLSTM", "GRU"])
        desc: dict[str, Any] = {"class": "rnn_cell", "unit": cell, "from": src, "n_out": d}
        if cell != "GRU" and rng.random() < 0.4:
            desc["unit_opts"] = {"forget_bias": 0.0}
    else:
        cell = rng.choice(["nativelstm2", "lstm", "GRU"])
        desc = {"class": "rec", "unit": cell, "from": src, "n_out": d}
    how = f"{name} = {desc['class']} {cell} of {src}"
    init = rng.choices(["none", "zeros", "var", "root"], [0.55, 0.1, 0.2, 0.15])[0]
    if init in ("zeros", "var"):
        desc["initial_state"] = init
        how += f", initial_state {init!r}"
    elif init == "root" and desc["class"] == "rnn_cell":
        h0 = _root_start_state(case, net, rec, d, "h")
        if h0 is not None:
            if cell == "GRU":
                desc["initial_state"] = f"base:{h0}"
            else:
                c0: str = "zeros"
                if rng.random() < 0.5:
                    c0_layer = _root_start_state(case, net, rec, d, "c")
                    c0 = f"base:{c0_layer}" if c0_layer else "zeros"
                desc["initial_state"] = {"c": c0, "h": f"base:{h0}"}
            how += f", initial_state {desc['initial_state']!r} (from the encoder's mean at the root)"
    if rng.random() < 0.5:
        desc["trainable"] = False
        how += ", trainable False"
    unit[name] = desc
    return name, how


def _gate(unit: dict[str, Any], value: str, gate_src: str | list[str], d: int,
          rng: random.Random, prefix: str = "lm") -> tuple[str, str]:
    """Gate ``value`` (dim ``d``) by a gate computed from ``gate_src``: (the gated layer, how)."""
    form = rng.choices(["vector", "gating", "scalar"], [0.45, 0.3, 0.25])[0]
    gated = _fresh(unit, f"{prefix}_gated")
    if form == "gating":
        g_in = _fresh(unit, f"{prefix}_gate_in")
        unit[g_in] = {"class": "linear", "activation": None, "from": gate_src, "n_out": d}
        unit[gated] = {"class": "gating", "from": [value, g_in], "activation": "identity"}
        return gated, f"{gated} = gating([{value}, {g_in}]) ({g_in} a linear of {gate_src})"
    gate = _fresh(unit, f"{prefix}_gate")
    n = d if form == "vector" else 1
    unit[gate] = {"class": "linear", "activation": "sigmoid", "from": gate_src, "n_out": n}
    # the scalar gate broadcast over the state: the state first (its dim is the output's)
    unit[gated] = {"class": "combine", "kind": "mul", "from": [gate, value] if n == d else [value, gate]}
    return gated, f"{gated} = {gate} * {value} ({gate} a {'scalar ' if n == 1 else ''}sigmoid of {gate_src})"


def _fuse(unit: dict[str, Any], choice: str, gated: str, late: bool, rng: random.Random,
          pre_weight: float = 0.65) -> str | None:
    """Add the gated LM state as an extra source of the pre-softmax layer or of a decoder state."""
    pre = _presoftmax_sites(unit, choice)
    state = [k for k in _state_sites(unit, choice) if k not in pre]
    if not pre and not state:
        return None
    if pre and (not state or rng.random() < pre_weight):
        site = rng.choice(pre)
        ref = f"prev:{gated}" if late else gated
        _add_source(unit[site], ref)
        return f"{ref} an extra source of the pre-softmax layer {site}"
    site = rng.choice(state)
    ref = f"prev:{gated}" if late or rng.random() < 0.4 else gated
    _add_source(unit[site], ref)
    return f"{ref} an extra source of the decoder state {site}"


# ----------------------------------------------------------------------------------------------------
# deep-fusion-cell


def op_deep_fusion_cell(case: Case, rng: random.Random) -> Result:
    """Gulcehre deep fusion: an LM cell in the unit, its state gated into the decoder."""
    new, net = _copy(case)
    sites = _fusion_sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    assert target is not None
    d = rng.choice([6, 8])
    emb, late, how_in = _lm_input(unit, choice, target, rng)
    lm, how_cell = _lm_cell(case, net, rec, emb, d, rng)
    if unit[emb]["from"] == f"prev:{choice}" and rng.random() < 0.25:
        how_cell += "; " + _lm_own_choice(unit, choice, emb, lm, target, rng)
    gate_src = lm
    if rng.random() < 0.2:
        gate_src = f"prev:{lm}"
    gated, how_gate = _gate(unit, lm, gate_src, d, rng)
    where = _fuse(unit, choice, gated, late, rng)
    if where is None:
        return None
    twin = _mirror(case["network"], net, rec)
    return new, f"{rec}: deep fusion: LM input {how_in}; {how_cell}; {how_gate}; {where}{twin}"


# ----------------------------------------------------------------------------------------------------
# cold-fusion-gate


def op_cold_fusion_gate(case: Case, rng: random.Random) -> Result:
    """Sriram cold fusion: LM logits projected, gated by the decoder state, a relu layer over the decoder
    state and the gated projection in place of the decoder state before the softmax."""
    new, net = _copy(case)
    sites = []
    for rec, c in _fusion_sites(net):
        unit = net[rec]["unit"]
        scores = _scores(unit, c)
        if scores is None or unit[scores].get("class") not in ("softmax", "linear"):
            continue
        decs = [s for s in _sources(unit[scores]) if s in unit and isinstance(unit[s], dict) and s != c]
        if decs and _target_dim(case, _data_target(unit[c])):
            sites.append((rec, c, scores, decs))
    if not sites:
        return None
    rec, choice, scores, decs = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    assert target is not None
    vocab = _target_dim(case, target)
    d = rng.choice([6, 8])
    emb, late, how_in = _lm_input(unit, choice, target, rng)
    lm, how_cell = _lm_cell(case, net, rec, emb, d, rng)
    logits = _fresh(unit, "lm_logits")
    form = rng.choices(["logits", "softmax", "log_softmax"], [0.6, 0.2, 0.2])[0]
    if form == "softmax":
        unit[logits] = {"class": "softmax", "from": lm, "target": target}
        how_lm = f"{logits} = softmax of {lm} with target {target} (the LM's output layer)"
    else:
        unit[logits] = {"class": "linear", "activation": None if form == "logits" else "log_softmax",
                        "from": lm, "n_out": vocab}
        how_lm = f"{logits} = linear ({form}) of {lm}, n_out {vocab}"
    if rng.random() < 0.3:
        unit[logits]["trainable"] = False
        how_lm += ", trainable False"
    if unit[emb]["from"] == f"prev:{choice}" and rng.random() < 0.25:
        how_lm += "; " + _lm_own_choice(unit, choice, emb, lm, target, rng,
                                        probs=logits if form == "softmax" else None)
    proj = _fresh(unit, "lm_proj")
    logits_ref = f"prev:{logits}" if late else logits
    unit[proj] = {"class": "linear", "activation": "relu", "from": logits_ref, "n_out": d}
    dec = rng.choice(decs)
    kind = rng.choices(["dec", "prev_dec", "lm_only"], [0.65, 0.2, 0.15])[0]
    gate_src: str | list[str] = {"dec": [dec, proj], "prev_dec": [f"prev:{dec}", proj], "lm_only": proj}[kind]
    gated, how_gate = _gate(unit, proj, gate_src, d, rng, prefix="cf")
    state = _fresh(unit, "cf_state")
    unit[state] = {"class": "copy", "from": [dec, gated]}
    out = _fresh(unit, "cf_out")
    n_out = unit[dec].get("n_out") if isinstance(unit[dec].get("n_out"), int) else d
    unit[out] = {"class": "linear", "activation": "relu", "from": state, "n_out": n_out}
    srcs = unit[scores]["from"]
    unit[scores]["from"] = out if isinstance(srcs, str) else [out if s == dec else s for s in srcs]
    twin = _mirror(case["network"], net, rec)
    return new, (f"{rec}: cold fusion: LM input {how_in}; {how_cell}; {how_lm}; {proj} = relu linear of "
                 f"{logits_ref}; {how_gate}; {state} = concat({dec}, {gated}); {scores} reads {out} (relu "
                 f"linear of {state}) instead of {dec}{twin}")


# ----------------------------------------------------------------------------------------------------
# lm-subnet-fusion


def _existing_lm(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """An LM subnetwork of the unit fed the previous label (shallow fusion in the base): (it, its last cell)."""
    for k in _layers(unit):
        desc = unit[k]
        sub = desc.get("subnetwork")
        if desc.get("class") != "subnetwork" or not isinstance(sub, dict):
            continue
        if not any(s.startswith("prev:") for s in _sources(desc)):
            continue
        cells = [n for n in _layers(sub) if sub[n].get("class") in ("rnn_cell", "rec")]
        if cells:
            return k, cells[-1]
    return None


def op_lm_subnet_fusion(case: Case, rng: random.Random) -> Result:
    """The LM as a ``subnetwork`` of the unit, its hidden state (by path) or logits gated into the decoder."""
    new, net = _copy(case)
    sites = _fusion_sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    assert target is not None
    d = rng.choice([6, 8])
    late = False
    logits_ref = ""
    have = _existing_lm(unit, choice)
    if have is not None and rng.random() < 0.7:
        lm, last = have
        n_last = unit[lm]["subnetwork"][last].get("n_out")
        d = n_last if isinstance(n_last, int) else d
        how_lm = f"the base's LM subnetwork {lm} (last cell {last})"
    else:
        vocab = _target_dim(case, target)
        if not isinstance(vocab, int):
            return None
        kind = rng.choices(["prev", "emb", "current", "target"], [0.6, 0.1, 0.2, 0.1])[0]
        emb = _label_embedding(unit, choice)
        if kind == "emb" and emb is not None:
            feed = emb[0] if not emb[1] else f"prev:{emb[0]}"
            how_feed = f"the decoder's embedding {feed}"
        elif kind == "current":
            feed, late = choice, True
            how_feed = f"this frame's {choice} (the LM fed the current label)"
        elif kind == "target":
            feed = f"data:{target}"
            how_feed = f"data:{target} (the LM's training input left in)"
        else:
            feed = f"prev:{choice}"
            how_feed = feed
        lm = _fresh(unit, "lm_output")
        sub: dict[str, Any] = {"input": {"class": "linear", "activation": "identity", "n_out": rng.choice([4, 6])}}
        if rng.random() < 0.3:
            sub["lstm0"] = {"class": "linear", "activation": "tanh", "from": ["input", "prev:lstm0"], "n_out": d}
            how_cells = "lstm0 a tanh linear of [input, prev:lstm0] (its own prev: state)"
            last = "lstm0"
        else:
            n = rng.choice([1, 1, 2])
            prev_cell = "input"
            for i in range(n):
                cell = {"class": "rnn_cell", "unit": "LSTMBlock", "from": [prev_cell], "n_out": d}
                if rng.random() < 0.5:
                    cell["unit_opts"] = {"forget_bias": 0.0}
                sub[f"lstm{i}"] = cell
                prev_cell = f"lstm{i}"
            last = prev_cell
            how_cells = f"{n} rnn_cell LSTMBlock layer(s)"
        sub["output"] = {"class": "linear", "activation": "identity", "from": [last], "n_out": vocab}
        desc: dict[str, Any] = {"class": "subnetwork", "from": [feed], "subnetwork": sub}
        how_out = f"output linear over {vocab}"
        if kind == "prev" and rng.random() < 0.25:
            # the LM-generation net copied whole: its output a choice over its own softmax
            beam = unit[choice].get("beam_size")
            k = rng.choice([1, beam if isinstance(beam, int) else 4])
            sub["prob"] = {"class": "softmax", "from": [last], "target": target}
            sub["output"] = {"class": "choice", "from": ["prob"], "target": target, "beam_size": k,
                             "initial_output": 0}
            logits_ref = f"{lm}/prob"
            how_out = f"output a choice (beam {k}) over its softmax prob"
            if rng.random() < 0.7:
                desc["from"] = [f"prev:{lm}"]
                desc["initial_output"] = "zeros"
                how_feed = f"prev:{lm}, its own choice (not the decoder's label; initial_output 'zeros')"
        elif rng.random() < 0.3:
            desc["n_out"] = vocab
        if rng.random() < 0.7:
            desc["trainable"] = False
            for inner in sub.values():
                inner["trainable"] = False
        unit[lm] = desc
        how_lm = (f"LM subnetwork {lm} fed {how_feed} ({how_cells}, {how_out}"
                  f"{', trainable False' if 'trainable' in desc else ''})")
    read = rng.choices(["path", "prev_path", "logits"], [0.5, 0.2, 0.3])[0]
    if read == "logits":
        proj = _fresh(unit, "lm_proj")
        ref = logits_ref or (f"prev:{lm}" if late else lm)
        unit[proj] = {"class": "linear", "activation": "relu", "from": ref, "n_out": d}
        value, how_read = proj, f"{proj} = relu linear of the LM logits {ref}"
    else:
        ref = f"prev:{lm}/{last}" if late or read == "prev_path" else f"{lm}/{last}"
        value, how_read = ref, f"the LM state {ref} read by path"
    gated, how_gate = _gate(unit, value, value, d, rng)
    where = _fuse(unit, choice, gated, False, rng, pre_weight=0.7)
    if where is None:
        return None
    twin = _mirror(case["network"], net, rec)
    return new, f"{rec}: {how_lm}; {how_read}; {how_gate}; {where}{twin}"


# ----------------------------------------------------------------------------------------------------
# lm-eos-reset-fusion


def op_lm_eos_reset_fusion(case: Case, rng: random.Random) -> Result:
    """An LM state reset at end-of-sentence (or started from a root state), deep-fused into the decoder."""
    new, net = _copy(case)
    sites = _fusion_sites(net)
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    target = _data_target(unit[choice])
    assert target is not None
    eos = _eos(unit, choice)
    d = rng.choice([6, 8])
    emb, late, how_in = _lm_input(unit, choice, target, rng, kinds=(0.8, 0.2, 0.0, 0.0))
    lm = _fresh(unit, "lm_h")
    form = rng.choices(["explicit", "after_choice", "cell_out"], [0.45, 0.3, 0.25])[0]
    if form == "explicit":
        if "end" in unit and rng.random() < 0.1:
            cond, how_cond = "prev:end", "prev:end"
        else:
            cond = _fresh(unit, "lm_bos")
            unit[cond] = {"class": "compare", "kind": "equal", "from": f"prev:{choice}", "value": eos}
            how_cond = f"prev:{choice} == {eos}"
        reset: Any = 0.0
        how_reset = "0"
        if rng.random() < 0.3:
            h0 = _root_start_state(case, net, rec, d, "h")
            if h0 is not None:
                reset, how_reset = f"base:{h0}", f"base:{h0} (from the encoder's mean)"
        prev = _fresh(unit, "lm_h_prev")
        unit[prev] = {"class": "switch", "condition": cond, "true_from": reset, "false_from": f"prev:{lm}"}
        unit[lm] = {"class": "linear", "activation": "tanh", "from": [emb, prev], "n_out": d}
        if rng.random() < 0.5:
            unit[lm]["initial_output"] = rng.choice([0, "zeros"])
        how = f"{prev} = switch({how_cond}, {how_reset}, prev:{lm}); {lm} = tanh linear of [{emb}, {prev}]"
    elif form == "after_choice":
        flag = _fresh(unit, "lm_eos")
        unit[flag] = {"class": "compare", "kind": "equal", "from": choice, "value": eos}
        keep = _fresh(unit, "lm_h_keep")
        unit[lm] = {"class": "linear", "activation": "tanh", "from": [emb, f"prev:{keep}"], "n_out": d}
        unit[keep] = {"class": "switch", "condition": flag, "true_from": 0.0, "false_from": lm}
        how = (f"{lm} = tanh linear of [{emb}, prev:{keep}]; {keep} = switch({choice} == {eos}, 0, {lm}) "
               f"after the frame's choice")
    else:
        cell = _fresh(unit, "lm_cell")
        unit[cell] = {"class": "rnn_cell", "unit": rng.choice(["LSTMBlock", "GRU"]), "from": emb, "n_out": d}
        if rng.random() < 0.5:
            unit[cell]["trainable"] = False
        cond = _fresh(unit, "lm_bos")
        unit[cond] = {"class": "compare", "kind": "equal", "from": f"prev:{choice}", "value": eos}
        unit[lm] = {"class": "switch", "condition": cond, "true_from": 0.0, "false_from": cell}
        how = (f"{cell} = rnn_cell {unit[cell]['unit']} of {emb}; {lm} = switch(prev:{choice} == {eos}, 0, "
               f"{cell}) (only the cell's output reset)")
    gate_src = lm if rng.random() < 0.8 else f"prev:{lm}"
    gated, how_gate = _gate(unit, lm, gate_src, d, rng)
    where = _fuse(unit, choice, gated, late, rng)
    if where is None:
        return None
    twin = _mirror(case["network"], net, rec)
    return new, f"{rec}: LM with EOS reset: input {how_in}; {how}; {how_gate}; {where}{twin}"


FRESH116_OPERATORS: tuple[Op, ...] = (
    Op("deep-fusion-cell", op_deep_fusion_cell, 1.2),
    Op("cold-fusion-gate", op_cold_fusion_gate, 1.0),
    Op("lm-subnet-fusion", op_lm_subnet_fusion, 1.0),
    Op("lm-eos-reset-fusion", op_lm_eos_reset_fusion, 0.8),
)
