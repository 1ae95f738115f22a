"""An eighty-eighth set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Whole-network synthesis from scratch: every operator throws the base's network away and builds a complete new
one from a small typed grammar of its own (``_Grammar``), keeping only the base's ``extern_data`` /
``num_outputs`` / config (its input key, whether that input is sparse, its sparse target keys and their dims, and
the string ``unit`` of a root ``rec`` encoder, an LSTM used again only where the base already used it). The
layer forms are RETURNN's network-dict conventions as ``returnn/tf/layers/rec.py`` (``RecLayer
.transform_config_dict`` / ``transform_source_and_axis``: a loop over a new dynamic time axis ended by ``end``
when the rec has no ``from``, over its source's time axis otherwise; ``max_len_from``; ``_SubnetworkRecCell``;
``ChoiceLayer``, ``DecideLayer``, ``DecideKeepBeamLayer``, ``GenericAttentionLayer``, ``DotAttentionLayer``,
``RnnCellLayer``), ``returnn/tf/layers/basic.py`` (``SubnetworkLayer``: ``data`` is the concatenated ``from``,
``base:`` the enclosing net, sub-layers read by path) and ``returnn/tf/network.py`` (``get_layer`` of ``base:``,
``prev:`` and ``a/b`` names) read them, and the bases' own decoders (the ``choice-beam12-attention`` /
``two-decoders-decided-combined`` / ``returnn-test-two-dependent-targets`` decoders) as templates of valid forms.
The grammar: an encoder of 1 to 3 cheap frame-wise layers (``linear``, ``conv`` with ``filter_size`` 3,
``pool`` max 2, a residual ``combine``, the base's own LSTM ``rec``; an embedding ``linear`` first over sparse
input), an attention key projection and a mean over time; label-synchronous units (embedding of the previous
label, a state that is a ``linear`` over ``prev:`` itself, an ``rnn_cell`` LSTMBlock, a running sum, or a
``subnetwork`` reading its inputs through ``from`` or ``base:`` / ``base:prev:``, with or without input feeding
of ``prev:att``; attention that is additive from basic layers, ``dot_attention``, the encoder mean, or the
additive one wrapped in a ``subnetwork`` of the unit whose ``att_weights`` other layers read by path; a readout;
``softmax`` or ``log_softmax`` scores, ``choice`` with a drawn beam, now and then wrapped in a ``subnetwork`` of
the unit with ``initial_output`` mostly on the wrapper, as RETURNN asks for ``prev:`` of sparse layers; ``end`` on
the EOS label, now and then on ``prev:`` of it, or-ed with a ``:i`` length limit, or in a ``subnetwork``) and
frame-synchronous
units (one choice per source frame, no ``end``); then root extras: ``decide`` (with an ``edit_distance`` loss at
times), ``decide_keep_beam``, embeddings of decoded labels pooled over time and mixed with the encoder mean, loop
layers marked ``is_output_layer`` (mostly) and read at the root by path, ``is_output_layer`` flags, ``ce`` losses.
None is a variant of an earlier operator (the earlier synthesis sets replace one decoder unit of the base and
keep its encoder and root); no rule was written for any of them:

* ``scratch-att-net``: a one-decoder attention network: the drawn encoder, one label-synchronous searching
  decoder over it (``from: []``, ``max_len_from`` the encoder or a constant), and 0 to 3 root extras on its output
  (``decide``, ``decide_keep_beam`` and a dense layer over it, a pooled embedding of the labels, beamed or
  decided, mixed with the encoder mean, a loop layer read by path and maybe decided). Targets the plain
  search path: ``ChoiceLayer`` in ``_SubnetworkRecCell``, ``base:`` encoder layers tiled into the beam,
  ``DecideLayer`` / ``DecideKeepBeamLayer`` and ``SearchChoices.translate_to_common_search_beam`` at the root.
* ``scratch-two-pass``: two chained searching decoders (a first pass, then a second pass that reads it), as in
  two-pass / deliberation decoding and the two-target test set-up: the second pass is a label-synchronous
  decoder attending over an embedding of the first pass's labels (maybe over the encoder too), or a
  frame-synchronous relabelling loop over the first pass's labels (``from`` them); what it reads is the first
  pass's beamed output, its ``decide``, or its ``decide_keep_beam``; the second target key where the base has
  two; at the root the second pass decided, both decided, or the pooled embeddings of both (decided or not)
  added. Targets the beam of a root input of a loop (``RecLayer`` sources and ``base:`` layers with search
  choices), beams of two independent or dependent choices met at the root (``translate_to_common_search_beam``,
  "Cannot combine beams"), ``DecideKeepBeamLayer``.
* ``scratch-frame-sync``: frame-synchronous searching decoders over the encoder's time axis (a ``rec`` whose
  ``from`` is an encoder layer, maybe a time-pooled one, one ``choice`` per frame, no ``end``), as CTC /
  transducer-like greedy and beam search users write: the frame (``data:source``) with the previous label's
  embedding, maybe ``prev:`` states, an ``rnn_cell``, the encoder mean; then a second frame-synchronous loop
  over the same encoder (two independent searches met at the root), or a label-synchronous decoder that reads
  the first loop's (decided or beamed) labels, or root extras as above. Targets ``transform_source_and_axis``
  with a source (the loop's time from the encoder), the choice's beam over source frames, and root beam
  resolution.
* ``scratch-nested``: the network built of root ``subnetwork`` modules, as returnn_common-style code writes it:
  the encoder in a block read by path (``enc/ctx``, ``enc`` itself as its ``output``), the searching decoder
  inside a block (its loop reading the root through ``base:base:``, or the block's ``data`` through a ``copy`` of
  it in the block, as a loop cannot name the block's ``data`` by ``base:data``;
  the block's ``output`` a ``copy`` of the loop or a ``decide`` inside the block), the loop's state and
  attention mostly wrapped in ``subnetwork`` layers of the unit, and at the root a ``decide`` of the block or of
  ``block/dec`` by path, a loop layer read by a two-level path (``block/dec/X``), or nothing; the choice wrapped
  in a ``subnetwork`` of the unit more often than in the other operators. Targets search
  choices across ``SubnetworkLayer`` boundaries (``Subnetwork`` / ``get_layer`` with ``base:``, sub-layer
  templates) and the choice's resolution from a loop nested in a block.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import Case, Op, _copy, _data_keys, _fresh, _sparse_keys, _target_dim

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH86_SEED = 20270148
N_FRESH86 = 80

Result = "tuple[Case, str] | None"
BEAMS = (1, 2, 3, 4, 5, 8, 12)
LSTM_UNITS = ("lstm", "nativelstm2", "standardlstm", "basiclstm", "lstmblock")


def _base_lstm(net: dict[str, Any]) -> str | None:
    """The string ``unit`` of a root ``rec`` of the base that is an LSTM, if any."""
    units = sorted({d["unit"] for d in net.values() if isinstance(d, dict) and d.get("class") == "rec"
                    and isinstance(d.get("unit"), str) and d["unit"].lower() in LSTM_UNITS})
    return units[0] if units else None


class _Grammar:
    """What the base keeps (input, targets, LSTM unit) and the random building blocks."""

    def __init__(self, case: Case, rng: random.Random) -> None:
        self.rng = rng
        ext = case.get("extern_data") or {}
        keys = [k for k in _data_keys(case)
                if not (isinstance(ext.get(k), dict) and ext[k].get("available_for_inference") is False)]
        sparse = set(_sparse_keys(case))
        self.inp_key = "data" if "data" in keys else (keys[0] if keys else None)
        self.targets = [(k, d) for k in sorted(sparse) if k != self.inp_key
                        and isinstance(d := _target_dim(case, k), int) and d > 1]
        self.sparse_in = self.inp_key in sparse
        self.lstm = _base_lstm(case["network"])
        self.d = rng.choice([4, 6, 8])
        self.a = rng.choice([4, 5, 6])
        self.log: list[str] = []

    @property
    def ok(self) -> bool:
        return self.inp_key is not None and bool(self.targets)

    def target(self, avoid: str | None = None) -> tuple[str, int]:
        pool = [t for t in self.targets if t[0] != avoid] or self.targets
        return self.rng.choice(pool)

    def beam(self) -> int:
        return self.rng.choices(BEAMS, [1, 2, 3, 3, 2, 1, 1])[0]

    # ------------------------------------------------------------------------------------------------
    # encoder

    def encoder(self, scope: dict[str, Any], src: str, sparse: bool, name: str = "encoder") -> str:
        """Frame-wise encoder layers in ``scope`` from ``src``; the last one is ``name``."""
        rng, d = self.rng, self.d
        steps: list[str] = []
        layers: list[tuple[str, dict[str, Any]]] = []
        if sparse or rng.random() < 0.6:
            act = None if sparse else rng.choice(["tanh", "relu"])
            layers.append(("enc_in", {"class": "linear", "activation": act, "from": src, "n_out": d}))
            steps.append("linear")
        else:
            layers.append(("enc_in", {"class": "conv", "from": src, "filter_size": [3], "padding": "same",
                                      "n_out": d, "activation": "relu"}))
            steps.append("conv")
        dim = d
        for _ in range(rng.choice([0, 1, 1, 2])):
            prev = layers[-1][0]
            kinds = ["linear", "conv", "pool", "residual"] + (["lstm"] if self.lstm else [])
            kind = rng.choice(kinds)
            if kind == "linear":
                layers.append(("enc_ff", {"class": "linear", "activation": "relu", "from": prev, "n_out": d}))
                dim = d
            elif kind == "conv":
                layers.append(("enc_conv", {"class": "conv", "from": prev, "filter_size": [3], "padding": "same",
                                            "n_out": d, "activation": "relu"}))
                dim = d
            elif kind == "pool":
                layers.append(("enc_pool", {"class": "pool", "mode": "max", "pool_size": [2], "padding": "same",
                                            "from": prev}))
            elif kind == "residual" and dim == d:
                layers.append(("enc_res_ff", {"class": "linear", "activation": "relu", "from": prev, "n_out": d}))
                layers.append(("enc_res", {"class": "combine", "kind": "add", "from": [prev, "enc_res_ff"]}))
            else:
                layers.append(("enc_lstm", {"class": "rec", "unit": self.lstm, "from": prev, "n_out": d}))
                kind = f"{self.lstm} rec"
                dim = d
            steps.append(kind)
        renames: dict[str, str] = {}
        for i, (base, desc) in enumerate(layers):
            real = name if i == len(layers) - 1 else _fresh(scope, base)
            renames[base] = real
            srcs = desc["from"]
            desc["from"] = [renames.get(s, s) for s in srcs] if isinstance(srcs, list) else renames.get(srcs, srcs)
            scope[real] = desc
        self.log.append(f"{name} = [{', '.join(steps)}]")
        return name

    def ctx(self, scope: dict[str, Any], enc: str, name: str = "enc_ctx") -> str:
        name = _fresh(scope, name)
        scope[name] = {"class": "linear", "activation": None, "with_bias": False, "from": enc, "n_out": self.a}
        return name

    def mean(self, scope: dict[str, Any], enc: str, name: str = "enc_mean") -> str:
        name = _fresh(scope, name)
        scope[name] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
        return name

    # ------------------------------------------------------------------------------------------------
    # label-synchronous unit

    def label_unit(self, target: tuple[str, int], enc: str, ctx: str, mean: str | None,
                   *, subnet_bias: float = 0.25, extra_att: tuple[str, str] | None = None) -> tuple[dict[str, Any], str]:
        """A label-synchronous unit; ``enc`` / ``ctx`` / ``mean`` are references as seen from the unit. Returns
        (unit, description)."""
        rng, d, a = self.rng, self.d, self.a
        key, _dim = target
        unit: dict[str, Any] = {}
        e = rng.choice([3, 4, 6])
        unit["embed"] = {"class": "linear", "activation": None, "from": "prev:output", "n_out": e}
        att_kind = rng.choices(["add", "dot", "mean", "subnet", "none"],
                               [0.35, 0.2, 0.1 if mean else 0.0, 0.2 + subnet_bias, 0.05])[0]
        feed = att_kind != "none" and rng.random() < 0.5
        state_kind = rng.choices(["ff", "cell", "cum", "subnet"], [0.3, 0.3, 0.15, 0.15 + subnet_bias])[0]
        ins = ["embed"] + (["prev:att"] if feed else [])
        if state_kind == "ff":
            unit["s"] = {"class": "linear", "activation": "tanh", "from": [*ins, "prev:s"], "n_out": d}
        elif state_kind == "cell":
            unit["s"] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": ins, "n_out": d}
        elif state_kind == "cum":
            unit["s_in"] = {"class": "linear", "activation": "tanh", "from": ins, "n_out": d}
            unit["s"] = {"class": "combine", "kind": "add", "from": ["s_in", "prev:s"]}
        elif rng.random() < 0.5:
            unit["s"] = {"class": "subnetwork", "from": [*ins, "prev:s"], "subnetwork": {
                "h": {"class": "linear", "activation": "tanh", "from": "data", "n_out": d},
                "output": {"class": "copy", "from": "h"}}}
            state_kind = "subnet(from)"
        else:
            unit["s"] = {"class": "subnetwork", "from": [], "subnetwork": {
                "h": {"class": "linear", "activation": "tanh", "from": [f"base:{x}" for x in ins] + ["base:prev:s"],
                      "n_out": d},
                "output": {"class": "copy", "from": "h"}}}
            state_kind = "subnet(base:)"
        weights: str | None = None
        if att_kind == "add":
            unit["s_tr"] = {"class": "linear", "activation": None, "with_bias": False, "from": "s", "n_out": a}
            unit["energy_in"] = {"class": "combine", "kind": "add", "from": [ctx, "s_tr"]}
            unit["energy_tanh"] = {"class": "activation", "activation": "tanh", "from": "energy_in"}
            unit["energy"] = {"class": "linear", "activation": None, "with_bias": False, "from": "energy_tanh",
                              "n_out": 1}
            unit["att_weights"] = {"class": "softmax_over_spatial", "from": "energy"}
            unit["att"] = {"class": "generic_attention", "weights": "att_weights", "base": enc}
            weights = "att_weights"
        elif att_kind == "dot":
            unit["query"] = {"class": "linear", "activation": None, "from": "s", "n_out": a}
            unit["att"] = {"class": "dot_attention", "from": "query", "base": enc, "base_ctx": ctx}
        elif att_kind == "mean":
            unit["att"] = {"class": "copy", "from": mean}
        elif att_kind == "subnet":
            unit["att"] = {"class": "subnetwork", "from": "s", "subnetwork": {
                "s_tr": {"class": "linear", "activation": None, "with_bias": False, "from": "data", "n_out": a},
                "energy_in": {"class": "combine", "kind": "add", "from": [f"base:{ctx}", "s_tr"]},
                "energy": {"class": "linear", "activation": "tanh", "from": "energy_in", "n_out": 1},
                "att_weights": {"class": "softmax_over_spatial", "from": "energy"},
                "output": {"class": "generic_attention", "weights": "att_weights", "base": f"base:{enc}"}}}
            weights = "att/att_weights"
        readout = ["s"] + (["att"] if att_kind != "none" else [])
        if extra_att is not None:
            x_enc, x_ctx = extra_att
            unit["s_tr2"] = {"class": "linear", "activation": None, "with_bias": False, "from": "s", "n_out": a}
            unit["energy2"] = {"class": "combine", "kind": "add", "from": [x_ctx, "s_tr2"]}
            unit["energy2_out"] = {"class": "linear", "activation": "tanh", "from": "energy2", "n_out": 1}
            unit["att2_weights"] = {"class": "softmax_over_spatial", "from": "energy2_out"}
            unit["att2"] = {"class": "generic_attention", "weights": "att2_weights", "base": x_enc}
            readout.append("att2")
        if rng.random() < 0.4:
            readout.append("prev:embed" if rng.random() < 0.5 else "embed")
        unit["readout"] = {"class": "linear", "activation": "tanh", "from": readout, "n_out": d}
        log_prob = rng.random() < 0.25
        if log_prob:
            unit["scores"] = {"class": "linear", "activation": "log_softmax", "from": "readout", "n_out": _dim}
        else:
            unit["scores"] = {"class": "softmax", "from": "readout", "target": key}
            if rng.random() < 0.5:
                unit["scores"]["loss"] = "ce"
        beam = self.beam()
        unit["output"] = {"class": "choice", "target": key, "beam_size": beam, "from": "scores", "initial_output": 0}
        if log_prob:
            unit["output"]["input_type"] = "log_prob"
        choice_subnet = rng.random() < subnet_bias * 0.6
        if choice_subnet:
            inner_choice = dict(unit.pop("output"), **{"from": "data"})
            unit["output"] = {"class": "subnetwork", "from": "scores", "subnetwork": {"output": inner_choice}}
            if rng.random() < 0.85:  # what RETURNN asks for: the initial label of ``prev:output`` on the subnetwork
                unit["output"]["initial_output"] = 0
        end_kind = rng.choices(["eos", "prev-eos", "eos-or-len", "subnet"], [0.76, 0.08, 0.08, 0.08])[0]
        if end_kind == "eos":
            unit["end"] = {"class": "compare", "from": "output", "value": 0}
        elif end_kind == "prev-eos":
            unit["end"] = {"class": "compare", "from": "prev:output", "value": 0}
        elif end_kind == "eos-or-len":
            unit["is_eos"] = {"class": "compare", "from": "output", "value": 0}
            unit["too_long"] = {"class": "compare", "kind": "greater_equal", "from": ":i",
                                "value": rng.choice([8, 15])}
            unit["end"] = {"class": "combine", "kind": "logical_or", "from": ["is_eos", "too_long"]}
        else:
            unit["end"] = {"class": "subnetwork", "from": "output", "subnetwork": {
                "output": {"class": "compare", "from": "data", "value": 0}}}
        if weights is not None:
            unit["#weights"] = weights  # removed by the caller (a note for ``export``)
        how = (f"label-sync unit (target {key}, beam {beam}, state {state_kind}{', input feeding' if feed else ''}, "
               f"attention {att_kind}{', second attention' if extra_att else ''}"
               f"{', log_prob scores' if log_prob else ''}{'' if end_kind == 'eos' else ', end ' + end_kind}"
               f"{', the choice in a subnetwork' if choice_subnet else ''})")
        return unit, how

    # ------------------------------------------------------------------------------------------------
    # frame-synchronous unit

    def frame_unit(self, target: tuple[str, int], mean: str | None) -> tuple[dict[str, Any], str]:
        """A frame-synchronous unit: one choice per source frame (``data:source``), no ``end``."""
        rng, d = self.rng, self.d
        key, dim = target
        unit: dict[str, Any] = {}
        unit["embed"] = {"class": "linear", "activation": None, "from": "prev:output", "n_out": rng.choice([3, 4])}
        ins = ["data:source", "embed"] + ([mean] if mean and rng.random() < 0.4 else [])
        kind = rng.choice(["ff", "ff-prev", "cell"])
        if kind == "ff":
            unit["s"] = {"class": "linear", "activation": "tanh", "from": ins, "n_out": d}
        elif kind == "ff-prev":
            unit["s"] = {"class": "linear", "activation": "tanh", "from": [*ins, "prev:s"], "n_out": d}
        else:
            unit["s"] = {"class": "rnn_cell", "unit": "LSTMBlock", "from": ins, "n_out": d}
        log_prob = rng.random() < 0.3
        if log_prob:
            unit["scores"] = {"class": "linear", "activation": "log_softmax", "from": "s", "n_out": dim}
        else:
            unit["scores"] = {"class": "softmax", "from": "s", "target": key}
        beam = self.beam()
        unit["output"] = {"class": "choice", "target": key, "beam_size": beam, "from": "scores", "initial_output": 0}
        if log_prob:
            unit["output"]["input_type"] = "log_prob"
        extra = "" if len(ins) == 2 else ", encoder mean"
        return unit, f"frame-sync unit (target {key}, beam {beam}, state {kind}{extra}{', log_prob' if log_prob else ''})"

    # ------------------------------------------------------------------------------------------------
    # pieces around a loop

    def rec(self, unit: dict[str, Any], target: str, max_len: str | int | None, src: str | None = None) -> dict[str, Any]:
        unit.pop("#weights", None)
        desc: dict[str, Any] = {"class": "rec", "from": [] if src is None else src, "target": target, "unit": unit}
        if max_len is not None:
            desc["max_seq_len"] = max_len
        return desc

    def max_len(self, enc_from_rec_net: str) -> str | int:
        return f"max_len_from('{enc_from_rec_net}')" if self.rng.random() < 0.75 else self.rng.choice([10, 20])

    def export(self, net: dict[str, Any], rec: str, unit: dict[str, Any], path: str | None = None,
               *, weights_ok: bool = True) -> str | None:
        """Read a loop layer at the root by path (marked ``is_output_layer`` mostly); its root name."""
        rng = self.rng
        cands = [k for k in ("s", "readout", "scores", "att") if k in unit]
        weights = unit.get("#weights")
        if isinstance(weights, str) and weights_ok and rng.random() < 0.5:
            inner = weights
        else:
            inner = rng.choice(cands)
        head = inner.split("/", 1)[0]
        marked = rng.random() < 0.85
        if marked:
            if "/" in inner:
                unit[head]["is_output_layer"] = True
                unit[head]["subnetwork"][inner.split("/", 1)[1]]["is_output_layer"] = True
            else:
                unit[inner]["is_output_layer"] = True
        name = _fresh(net, f"{rec.replace('/', '_')}_{inner.replace('/', '_')}")
        net[name] = {"class": "copy", "from": f"{path or rec}/{inner}"}
        how = f"root {name} = {path or rec}/{inner}{'' if marked else ' (not marked is_output_layer)'}"
        if rng.random() < 0.35:
            net[name] = {"class": "decide", "from": f"{path or rec}/{inner}"}
            how += " through decide"
        net[name]["is_output_layer"] = True
        self.log.append(how)
        return name

    def extras(self, net: dict[str, Any], dec: str, target: str, enc_mean: str | None, enc: str,
               unit: dict[str, Any] | None, n: int) -> None:
        """Up to ``n`` root extras on the searching decoder ``dec`` (a root layer)."""
        rng, d = self.rng, self.d
        kinds = rng.sample(["decide", "keep_beam", "pool", "export"], k=n)
        decided: str | None = None
        for kind in kinds:
            if kind == "decide":
                decided = _fresh(net, f"{dec}_decision" if dec != "output" else "decision")
                net[decided] = {"class": "decide", "from": dec, "is_output_layer": True}
                if rng.random() < 0.3:
                    net[decided].update(loss="edit_distance", target=target)
                self.log.append(f"{decided} = decide({dec})" + (" with edit_distance loss" if "loss" in net[decided]
                                                                 else ""))
            elif kind == "keep_beam":
                kb = _fresh(net, f"{dec}_keep_beam")
                net[kb] = {"class": "decide_keep_beam", "from": dec}
                post = _fresh(net, f"{dec}_kb_emb")
                net[post] = {"class": "linear", "activation": None, "from": kb, "n_out": d, "is_output_layer": True}
                self.log.append(f"{post} = linear(decide_keep_beam({dec}))")
            elif kind == "pool":
                src = decided if decided is not None and rng.random() < 0.6 else dec
                emb = _fresh(net, f"{dec}_emb")
                net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": d}
                pool = _fresh(net, f"{dec}_pool")
                net[pool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
                if enc_mean is None:
                    enc_mean = self.mean(net, enc)
                mix = _fresh(net, f"{dec}_mix")
                net[mix] = {"class": "combine", "kind": "add", "from": [pool, enc_mean], "is_output_layer": True}
                self.log.append(f"{mix} = mean over T of linear({src}) + {enc_mean}")
            elif unit is not None:
                self.export(net, dec, unit)


def _start(case: Case, rng: random.Random) -> tuple[Case, dict[str, Any], _Grammar] | None:
    g = _Grammar(case, rng)
    if not g.ok:
        return None
    new, _ = _copy(case)
    net: dict[str, Any] = {}
    new["network"] = net
    return new, net, g


def _inp(g: _Grammar) -> str:
    return "data" if g.inp_key == "data" else f"data:{g.inp_key}"


def _decoder_name(net: dict[str, Any], rng: random.Random) -> str:
    return "output" if "output" not in net and rng.random() < 0.6 else _fresh(net, rng.choice(["dec", "decoder"]))


# ----------------------------------------------------------------------------------------------------
# scratch-att-net


def op_scratch_att_net(case: Case, rng: random.Random) -> Result:
    """A new network: encoder, one label-synchronous searching attention decoder, root extras."""
    start = _start(case, rng)
    if start is None:
        return None
    new, net, g = start
    enc = g.encoder(net, _inp(g), g.sparse_in)
    ctx = g.ctx(net, enc)
    mean = g.mean(net, enc) if rng.random() < 0.4 else None
    target = g.target()
    unit, how = g.label_unit(target, f"base:{enc}", f"base:{ctx}", f"base:{mean}" if mean else None)
    dec = _decoder_name(net, rng)
    weights = unit.get("#weights")
    net[dec] = g.rec(unit, target[0], g.max_len(enc))
    if weights:
        unit["#weights"] = weights
    g.extras(net, dec, target[0], mean, enc, unit, rng.choice([0, 1, 1, 2, 2, 3]))
    unit.pop("#weights", None)
    if dec != "output" and not any(isinstance(v, dict) and v.get("is_output_layer") for v in net.values()):
        net[dec]["is_output_layer"] = True
    return new, f"scratch-att-net: {'; '.join(g.log[:1])}; {dec} = {how}; " + "; ".join(g.log[1:])


# ----------------------------------------------------------------------------------------------------
# scratch-two-pass


def _link(net: dict[str, Any], g: _Grammar, dec1: str) -> tuple[str, str]:
    """What the second pass reads of the first: (root layer, how)."""
    kind = g.rng.choices(["beamed", "decide", "keep_beam"], [0.4, 0.4, 0.2])[0]
    if kind == "beamed":
        return dec1, f"{dec1} (beamed)"
    name = _fresh(net, f"{dec1}_{'decided' if kind == 'decide' else 'keep_beam'}")
    net[name] = {"class": "decide" if kind == "decide" else "decide_keep_beam", "from": dec1}
    return name, f"{name} = {'decide' if kind == 'decide' else 'decide_keep_beam'}({dec1})"


def op_scratch_two_pass(case: Case, rng: random.Random) -> Result:
    """A new network with two chained searching decoders, the second reading the first."""
    start = _start(case, rng)
    if start is None:
        return None
    new, net, g = start
    enc = g.encoder(net, _inp(g), g.sparse_in)
    ctx = g.ctx(net, enc)
    t1 = g.target()
    t2 = g.target(avoid=t1[0])
    unit1, how1 = g.label_unit(t1, f"base:{enc}", f"base:{ctx}", None)
    dec1 = rng.choice(["dec1", "first_pass"])
    net[dec1] = g.rec(unit1, t1[0], g.max_len(enc))
    link, how_link = _link(net, g, dec1)
    dec2 = "output" if rng.random() < 0.5 else rng.choice(["dec2", "second_pass"])
    if rng.random() < 0.6:
        emb = _fresh(net, f"{dec1}_emb")
        net[emb] = {"class": "linear", "activation": None, "from": link, "n_out": g.d}
        hctx = g.ctx(net, emb, f"{dec1}_ctx")
        both = rng.random() < 0.3
        unit2, how2 = g.label_unit(t2, f"base:{emb}", f"base:{hctx}", None,
                                   extra_att=(f"base:{enc}", f"base:{ctx}") if both else None)
        net[dec2] = g.rec(unit2, t2[0], g.max_len(rng.choice([enc, emb])))
        how2 = f"{how2} attending over {emb} = linear({how_link})" + (" and the encoder" if both else "")
    else:
        unit2, how2 = g.frame_unit(t2, None)
        net[dec2] = g.rec(unit2, t2[0], None, src=link)
        how2 = f"{how2} looping over {how_link}"
    final = rng.choices(["decide2", "decide_both", "pool_both"], [0.4, 0.3, 0.3])[0]
    if final == "decide2":
        name = _fresh(net, "decision")
        net[name] = {"class": "decide", "from": dec2, "is_output_layer": True}
        how3 = f"{name} = decide({dec2})"
    elif final == "decide_both":
        for dec in (dec1, dec2):
            name = _fresh(net, f"{dec}_decision")
            net[name] = {"class": "decide", "from": dec, "is_output_layer": True}
        how3 = f"decide of {dec1} and of {dec2}"
    else:
        pools = []
        parts = []
        for dec in (dec1, dec2):
            src = dec
            if rng.random() < 0.5:
                src = _fresh(net, f"{dec}_decided")
                net[src] = {"class": "decide", "from": dec}
            emb = _fresh(net, f"{dec}_out_emb")
            net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": g.d}
            pool = _fresh(net, f"{dec}_pool")
            net[pool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
            pools.append(pool)
            parts.append(src if src != dec else f"{dec} (beamed)")
        name = _fresh(net, "passes_mix")
        net[name] = {"class": "combine", "kind": "add", "from": pools, "is_output_layer": True}
        how3 = f"{name} = pooled embeddings of {parts[0]} + {parts[1]}"
    if dec2 != "output":
        net[dec2]["is_output_layer"] = True
    return new, (f"scratch-two-pass: {g.log[0]}; {dec1} = {how1}; {dec2} = {how2}; {how3}")


# ----------------------------------------------------------------------------------------------------
# scratch-frame-sync


def op_scratch_frame_sync(case: Case, rng: random.Random) -> Result:
    """A new network with a frame-synchronous searching decoder over the encoder frames."""
    start = _start(case, rng)
    if start is None:
        return None
    new, net, g = start
    enc = g.encoder(net, _inp(g), g.sparse_in)
    src = enc
    if rng.random() < 0.2:
        src = _fresh(net, "enc_sub")
        net[src] = {"class": "pool", "mode": "avg", "pool_size": [2], "padding": "same", "from": enc}
        g.log.append(f"{src} = avg pool 2 of {enc}")
    mean = g.mean(net, enc) if rng.random() < 0.35 else None
    target = g.target()
    unit, how = g.frame_unit(target, f"base:{mean}" if mean else None)
    dec = _decoder_name(net, rng)
    net[dec] = g.rec(unit, target[0], None, src=src)
    follow = rng.choices(["extras", "parallel", "label"], [0.35, 0.3, 0.35])[0]
    if follow == "parallel":
        t2 = g.target(avoid=target[0])
        unit2, how2 = g.frame_unit(t2, None)
        dec2 = _fresh(net, "frame_dec2")
        net[dec2] = g.rec(unit2, t2[0], None, src=enc)
        outs = []
        for dd in (dec, dec2):
            if rng.random() < 0.4:
                name = _fresh(net, f"{dd}_decision")
                net[name] = {"class": "decide", "from": dd, "is_output_layer": True}
                outs.append(name)
            else:
                name = _fresh(net, f"{dd}_emb")
                net[name] = {"class": "linear", "activation": None, "from": dd, "n_out": g.d}
                pool = _fresh(net, f"{dd}_pool")
                net[pool] = {"class": "reduce", "mode": "mean", "axis": "T", "from": name}
                outs.append(pool)
        how_f = f"parallel {dec2} = {how2} over {enc}"
        pools = [o for o in outs if "pool" in o]
        if len(pools) == 2 or (pools and rng.random() < 0.5):
            mix = _fresh(net, "frame_mix")
            other = pools[1] if len(pools) == 2 else (mean or g.mean(net, enc))
            net[mix] = {"class": "combine", "kind": "add", "from": [pools[0], other], "is_output_layer": True}
            how_f += f"; {mix} = {pools[0]} + {other}"
        for o in outs:
            if "pool" not in o:
                how_f += f"; {o} = decide({o.removesuffix('_decision')})"
            elif len(pools) == 1 and "frame_mix" not in how_f:
                net[o]["is_output_layer"] = True
                how_f += f"; {o} (an output layer) = mean over T of linear({o.removesuffix('_pool')})"
    elif follow == "label":
        link, how_link = _link(net, g, dec)
        emb = _fresh(net, f"{dec}_emb")
        net[emb] = {"class": "linear", "activation": None, "from": link, "n_out": g.d}
        lctx = g.ctx(net, emb, f"{dec}_ctx")
        t2 = g.target(avoid=target[0] if rng.random() < 0.5 else None)
        unit2, how2 = g.label_unit(t2, f"base:{emb}", f"base:{lctx}", None)
        dec2 = _fresh(net, "label_dec")
        net[dec2] = g.rec(unit2, t2[0], g.max_len(enc))
        dname = _fresh(net, "decision")
        net[dname] = {"class": "decide", "from": dec2, "is_output_layer": True}
        how_f = f"{dec2} = {how2} attending over {emb} = linear({how_link}); {dname} = decide({dec2})"
    else:
        g.extras(net, dec, target[0], mean, enc, unit, rng.choice([1, 1, 2, 3]))
        how_f = "; ".join(g.log[1:])
    if dec != "output":
        net[dec]["is_output_layer"] = True
    return new, f"scratch-frame-sync: {g.log[0]}; {dec} = {how} over {src}; {how_f}"


# ----------------------------------------------------------------------------------------------------
# scratch-nested


def op_scratch_nested(case: Case, rng: random.Random) -> Result:
    """A new network of root ``subnetwork`` blocks: an encoder block, a decoder block holding the loop."""
    start = _start(case, rng)
    if start is None:
        return None
    new, net, g = start
    enc_in_block, dec_in_block = rng.choice([(True, True), (True, True), (True, False), (False, True)])
    parts: list[str] = []
    if enc_in_block:
        inner: dict[str, Any] = {}
        g.encoder(inner, "data", g.sparse_in, name="output")
        g.ctx(inner, "output", "ctx")
        net["enc"] = {"class": "subnetwork", "from": _inp(g), "subnetwork": inner}
        enc_root, ctx_root = "enc", "enc/ctx"
        parts.append(f"enc = block[{g.log[-1]}] with sub-layer ctx")
    else:
        enc_root = g.encoder(net, _inp(g), g.sparse_in)
        ctx_root = g.ctx(net, enc_root)
        parts.append(g.log[-1])
    target = g.target()
    block = "dec_block"
    if dec_in_block:
        via_data = rng.random() < 0.4
        inner2: dict[str, Any] = {}
        if via_data:
            # the loop cannot read the block's ``data`` through ``base:data`` (that names extern data there):
            # a copy of it in the block, as returnn_common writes it
            inner2["enc_in"] = {"class": "copy", "from": "data"}
            inner2["ctx"] = {"class": "linear", "activation": None, "with_bias": False, "from": "enc_in",
                             "n_out": g.a}
            enc_ref, ctx_ref, ml = "base:enc_in", "base:ctx", "max_len_from('enc_in')"
        else:
            enc_ref, ctx_ref = f"base:base:{enc_root}", f"base:base:{ctx_root}"
            ml = f"max_len_from('base:{enc_root}')"
        unit, how = g.label_unit(target, enc_ref, ctx_ref, None, subnet_bias=0.5)
        weights = unit.get("#weights")
        inner2["dec"] = g.rec(unit, target[0], ml if rng.random() < 0.8 else 20)
        out_kind = rng.choice(["copy", "copy", "decide"])
        inner2["output"] = {"class": out_kind, "from": "dec"}
        net[block] = {"class": "subnetwork", "from": enc_root if via_data else [], "subnetwork": inner2}
        parts.append(f"{block} = block[dec = {how}, reading {'base:enc_in = copy of the block data' if via_data else 'base:base:'}; "
                     f"output = {out_kind}(dec)]")
        root = rng.choices(["decide_block", "decide_path", "path", "none"], [0.35, 0.3, 0.2, 0.15])[0]
        if root == "decide_block":
            net["decision"] = {"class": "decide", "from": block, "is_output_layer": True}
            parts.append(f"decision = decide({block})")
        elif root == "decide_path":
            net["decision"] = {"class": "decide", "from": f"{block}/dec", "is_output_layer": True}
            parts.append(f"decision = decide({block}/dec)")
        elif root == "path":
            if weights:
                unit["#weights"] = weights
            inner2["dec"]["is_output_layer"] = True
            g.export(net, "dec", unit, path=f"{block}/dec", weights_ok=False)
            unit.pop("#weights", None)
            parts.append(g.log[-1])
        net[block]["is_output_layer"] = True
    else:
        unit, how = g.label_unit(target, f"base:{enc_root}", f"base:{ctx_root}", None, subnet_bias=0.5)
        dec = _decoder_name(net, rng)
        net[dec] = g.rec(unit, target[0], g.max_len(enc_root))
        net["decision"] = {"class": "decide", "from": dec, "is_output_layer": True}
        if dec != "output":
            net[dec]["is_output_layer"] = True
        parts.append(f"{dec} = {how} reading {enc_root} and {ctx_root} by path; decision = decide({dec})")
    return new, "scratch-nested: " + "; ".join(parts)


FRESH86_OPERATORS: tuple[Op, ...] = (
    Op("scratch-att-net", op_scratch_att_net, 1),
    Op("scratch-two-pass", op_scratch_two_pass, 1),
    Op("scratch-frame-sync", op_scratch_frame_sync, 1),
    Op("scratch-nested", op_scratch_nested, 1),
)
