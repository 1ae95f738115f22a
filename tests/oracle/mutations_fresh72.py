"""A seventy-fourth set of edit operators (issue 15, sixteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Random decoder synthesis: instead of a small edit, an operator replaces (part of) a searching decoder of the
base by a decoder composed at random from a small typed grammar, on the base's encoder and root, which stay
(none a variant of an earlier operator; no rule was written for any of them). The grammar (``_Synth``) knows
three kinds of values: labels (``prev:CHOICE``, the loop's input frame ``data:source`` where the decoder loops
over sparse input), dense vectors of a known or unknown size (loop layers, ``prev:`` of them, time-less root
layers read as ``base:X``, sub-layers ``SUB/a`` / ``SUB/b`` of a loop ``subnetwork``) and encoder sequences (root
layers with a time axis, read as ``base:X``); it draws 3 to 10 layers from ``linear`` (an embedding of a label,
or a projection of dense values, maybe reading ``prev:`` of itself), ``combine`` (``add`` / ``mul`` / ``sub`` of
two values of one size), ``copy`` of a list (a concatenation), ``eval`` (``tanh`` of one value, or a gated
product of two of one size), ``activation``, ``softmax`` (a gate distribution), ``reduce`` (mean / max over
the encoder time), ``dot`` attention (energies of a loop projection of the encoder against a query of the same
size, ``softmax_over_spatial``, then a ``generic_attention`` or a ``reduce`` of the weighted encoder), ``gather``
of the encoder frame at ``:i`` (``clip_to_valid``), ``slice`` of the feature axis, an LSTM ``rec`` layer (unit
``"lstm"`` / ``"nativelstm2"``) and a ``subnetwork`` with sub-layers ``a`` / ``b`` (reading ``data`` and maybe
``base:`` of a loop layer); dims are kept consistent so that the decoder builds in training; then the scores
(a ``softmax`` over one to three dense values, with the target and a ``ce`` loss, or ``n_out`` only), a
``choice`` (target the old choice's key, beam size kept or redrawn, ``initial_output`` 0), an ``end``
(``compare`` of the choice with label 0, where the loop has no input) and an ``output`` (the choice itself, or
a ``copy`` of it). The beam-related variety comes from where the references land:

* ``synth-decoder``: the searching decoder's whole unit is replaced by a synthesized one (the rec layer's
  options and root readers kept; a root reader of ``REC/X`` gets an ``X`` in the new unit, a ``copy`` of the
  choice or of the scores, marked an output layer); the label feedback is an embedding of ``prev:CHOICE`` or ``prev:`` of an embedding
  of this frame's choice; now and then (0.12) a ``decide`` sits in the unit (over the choice, over ``prev:`` of
  it, or over a dense layer the scores read), or (0.23) a layer reading this frame's choice (an embedding, maybe
  a ``combine`` with a state) is marked an output layer or read at the root (``REC/X`` by a new output layer,
  the loop layer marked an output layer or, 0.4, not);
* ``synth-two-choices``: a synthesized unit with two choices: the first over scores of the state, the second
  over scores that read an embedding of the first (this frame's), each with a target (the second another sparse
  key of the case, or the first's), the second with beam size 1, the first's or another; the ``end`` reads one
  of them, ``output`` copies one of them, the rec's target the matching key or the list of both; or the second
  choice's scores read only ``prev:`` of the first (no same-frame dependency);
* ``synth-subnet-state``: a synthesized unit whose state lives in a loop ``subnetwork`` (sub-layers ``a``: a
  ``linear`` / LSTM ``rec`` over ``data``, ``b``: a ``linear`` over ``a`` or over ``base:`` of a loop layer,
  ``output`` a ``copy`` of both), its sub-layers read as ``SUB/a`` / ``SUB/b`` and ``prev:SUB/a`` by the rest,
  the subnetwork reading the label embedding of ``prev:CHOICE``; or the scores themselves computed inside the
  subnetwork (an inner ``softmax`` with the target) and the choice reading ``SUB/prob``, or (0.2) the subnetwork
  reading this frame's choice (an embedding) as an output-side layer;
* ``synth-after-decoder``: a second, synthesized searching decoder at the root (a new ``rec`` layer, an output
  layer, its own ``max_seq_len`` from the first's or a constant) whose unit reads, besides the encoder, a root
  layer that depends on the first decoder: the first decoder's labels (the rec layer, or a ``decide`` of it,
  new or existing) embedded at the root (``linear``) and averaged over its frames (``reduce`` mean), read as
  ``base:X`` (a time-less dense value), or the embedded frames themselves (an encoder-like sequence); the new
  decoder's choice takes the first decoder's target key; maybe a root ``decide`` of the new decoder marked an
  output.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _deps,
    _fresh,
    _layers,
    _recs,
    _root_ancestors,
    _searching_recs,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH72_SEED = 20270134
N_FRESH72 = 80

Result = "tuple[Case, str] | None"

DIMS = (16, 24, 32, 48, 64)
ACTS = (None, "tanh", "relu", "sigmoid")
TIME_AXES = ("T", "t", "time")

# A value: (reference, kind, dim); kind "label" / "dense" / "timed"; dim an int or None (unknown size).
Value = tuple[str, str, "int | None"]


# ----------------------------------------------------------------------------------------------------
# Rough types of root layers


def _ext_type(case: Case, key: str) -> tuple[str, int | None, bool] | None:
    """(kind, dim, has time) of extern data ``key``."""
    ext = (case.get("extern_data") or {}).get(key)
    if isinstance(ext, dict):
        if ext.get("available_for_inference") is False:
            return None
        sparse = bool(ext.get("sparse") or ext.get("sparse_dim"))
        dim = _target_dim(case, key) if sparse else (ext.get("dim") if isinstance(ext.get("dim"), int) else None)
        timed = True
        if isinstance(ext.get("shape"), (list, tuple)) and len(ext["shape"]) == (0 if sparse else 1):
            timed = False
        if isinstance(ext.get("dims"), list) and len(ext["dims"]) < (2 if sparse else 3):
            timed = False
        return ("label" if sparse else "dense", dim, timed)
    num = (case.get("num_outputs") or {}).get(key)
    if isinstance(num, list) and num and isinstance(num[0], int):
        return ("label" if num[1:] == [1] else "dense", num[0], True)
    if isinstance(num, int):
        return ("dense", num, True)
    return None


def _root_type(case: Case, name: str, memo: dict[str, Any] | None = None) -> tuple[str, int | None, bool] | None:
    """(kind, dim, has time) of a root layer or data reference, roughly; None when unknown."""
    memo = {} if memo is None else memo
    if name in memo:
        return memo[name]
    memo[name] = None
    net = case["network"]
    out: tuple[str, int | None, bool] | None = None
    if name == "data" or name.startswith("data:"):
        out = _ext_type(case, name[5:] if name.startswith("data:") else "data")
    elif isinstance(net.get(name), dict):
        desc = net[name]
        cls = desc.get("class")
        srcs = desc.get("from", ["data"])
        srcs = [srcs] if isinstance(srcs, str) else srcs
        srcs = [s for s in srcs if isinstance(s, str)] if isinstance(srcs, list) else []
        types = [_root_type(case, s, memo) for s in srcs]
        known = bool(types) and all(t is not None for t in types)
        n_out = desc.get("n_out") if isinstance(desc.get("n_out"), int) else None
        if cls in ("linear", "softmax") and known and not desc.get("target"):
            out = ("dense", n_out, any(t[2] for t in types))
        elif cls == "rec" and isinstance(desc.get("unit"), str) and known:
            out = ("dense", n_out, True)
        elif cls == "reduce" and known and len(types) == 1 and types[0][0] == "dense":
            axes = desc.get("axes", desc.get("axis"))
            if isinstance(axes, str) and axes in TIME_AXES:
                out = ("dense", types[0][1], False)
        elif cls == "copy" and known:
            if len(types) == 1:
                out = types[0]
            elif all(t[0] == "dense" for t in types) and len({t[2] for t in types}) == 1:
                dims = [t[1] for t in types]
                out = ("dense", None if None in dims else sum(dims), types[0][2])
        elif cls in ("activation", "dropout", "layer_norm", "combine") and known and types[0][0] == "dense":
            out = types[0]
    memo[name] = out
    return out


def _encoder_values(case: Case, rec: str) -> tuple[list[Value], list[Value]]:
    """(encoder sequences, time-less dense values) among the root layers the decoder ``rec`` reads (with
    their ancestors), as ``base:X`` values; nothing that carries a beam or reads a decoder."""
    net = case["network"]
    beamed = _beamed_roots(net)
    recs = set(_recs(net))
    names = sorted(_root_ancestors(net, rec) | ({"encoder"} & set(net)))
    seqs: list[Value] = []
    flat: list[Value] = []
    memo: dict[str, Any] = {}
    for name in names:
        if name in beamed or name in recs and isinstance(net[name].get("unit"), dict):
            continue
        if _root_ancestors(net, name) & (beamed | {r for r in recs if isinstance(net[r].get("unit"), dict)}):
            continue
        t = _root_type(case, name, memo)
        if t is None or t[0] != "dense":
            continue
        (seqs if t[2] else flat).append((f"base:{name}", "timed" if t[2] else "dense", t[1]))
    return seqs, flat


# ----------------------------------------------------------------------------------------------------
# The grammar


class _Synth:
    """Builds layers into ``unit`` from typed values."""

    def __init__(self, rng: random.Random, unit: dict[str, Any], seqs: list[Value], flat: list[Value],
                 taken: set[str]):
        self.rng = rng
        self.unit = unit
        self.seqs = list(seqs)
        self.flat = list(flat)
        self.dense: list[Value] = []   # loop values (this frame's and prev:)
        self.labels: list[Value] = []
        self.taken = set(taken)
        self.made: list[str] = []

    def name(self, base: str) -> str:
        new = _fresh(self.taken | set(self.unit), base)
        self.taken.add(new)
        return new

    def put(self, base: str, desc: dict[str, Any], dim: int | None, *, recurrent: bool = True) -> Value:
        name = self.name(base)
        self.unit[name] = desc
        self.made.append(name)
        val = (name, "dense", dim)
        self.dense.append(val)
        if recurrent and self.rng.random() < 0.35:
            self.dense.append((f"prev:{name}", "dense", dim))
        return val

    def pick_dense(self, k: int = 1, *, dim: int | None = None, with_flat: bool = True) -> list[Value]:
        pool = [v for v in self.dense + (self.flat if with_flat else []) if dim is None or v[2] == dim]
        if not pool:
            return []
        # prefer recent loop values so that the chain hangs together
        out: list[Value] = []
        for _ in range(k):
            cand = [v for v in pool if v not in out]
            if not cand:
                break
            weights = [1.0 + (i if v in self.dense else 0) for i, v in enumerate(cand)]
            out.append(self.rng.choices(cand, weights)[0])
        return out

    # --- productions -------------------------------------------------------------------------------

    def embed(self, label: Value, base: str = "embed") -> Value:
        dim = self.rng.choice(DIMS)
        return self.put(base, {"class": "linear", "activation": None, "with_bias": False, "from": [label[0]],
                               "n_out": dim}, dim)

    def linear(self) -> Value | None:
        srcs = self.pick_dense(self.rng.choice([1, 1, 2]))
        if not srcs:
            return None
        dim = self.rng.choice(DIMS)
        desc: dict[str, Any] = {"class": "linear", "activation": self.rng.choice(ACTS),
                                "from": [s[0] for s in srcs], "n_out": dim}
        name = self.name("hidden")
        if self.rng.random() < 0.3:
            desc["from"].append(f"prev:{name}")
        self.unit[name] = desc
        self.made.append(name)
        self.dense.append((name, "dense", dim))
        if self.rng.random() < 0.35:
            self.dense.append((f"prev:{name}", "dense", dim))
        return (name, "dense", dim)

    def lstm(self) -> Value | None:
        srcs = self.pick_dense(self.rng.choice([1, 2]))
        if not srcs:
            return None
        dim = self.rng.choice(DIMS)
        return self.put("lstm", {"class": "rec", "unit": self.rng.choice(["lstm", "nativelstm2"]),
                                 "from": [s[0] for s in srcs], "n_out": dim}, dim)

    def same_dim_pair(self) -> list[Value] | None:
        known = [v for v in self.dense + self.flat if v[2] is not None]
        if not known:
            return None
        a = self.rng.choice(known)
        others = [v for v in known if v[2] == a[2] and v[0] != a[0]]
        if others:
            return [a, self.rng.choice(others)]
        src = self.pick_dense(1)
        if not src or src[0][0] == a[0]:
            return None
        proj = self.put("proj", {"class": "linear", "activation": None, "from": [src[0][0]], "n_out": a[2]},
                        a[2], recurrent=False)
        return [a, proj]

    def combine(self) -> Value | None:
        pair = self.same_dim_pair()
        if pair is None:
            return None
        kind = self.rng.choice(["add", "add", "mul", "sub"])
        return self.put(f"combine_{kind}", {"class": "combine", "kind": kind, "from": [v[0] for v in pair]},
                        pair[0][2])

    def concat(self) -> Value | None:
        srcs = self.pick_dense(self.rng.choice([2, 2, 3]))
        if len(srcs) < 2:
            return None
        dims = [s[2] for s in srcs]
        return self.put("concat", {"class": "copy", "from": [s[0] for s in srcs]},
                        None if None in dims else sum(dims))

    def eval_(self) -> Value | None:
        if self.rng.random() < 0.5:
            src = self.pick_dense(1)
            if not src:
                return None
            fn = self.rng.choice(["tf.tanh(source(0))", "tf.nn.relu(source(0))", "source(0) * 0.5"])
            return self.put("eval", {"class": "eval", "eval": fn, "from": [src[0][0]]}, src[0][2])
        pair = self.same_dim_pair()
        if pair is None:
            return None
        return self.put("gated", {"class": "eval", "eval": "source(0) * tf.sigmoid(source(1))",
                                  "from": [v[0] for v in pair]}, pair[0][2])

    def activation(self) -> Value | None:
        src = self.pick_dense(1)
        if not src:
            return None
        act = self.rng.choice(["tanh", "relu", "sigmoid", "log_softmax"])
        return self.put(f"act_{act}", {"class": "activation", "activation": act, "from": [src[0][0]]},
                        src[0][2])

    def softmax(self) -> Value | None:
        src = self.pick_dense(self.rng.choice([1, 2]))
        if not src:
            return None
        dim = self.rng.choice(DIMS)
        return self.put("gate_dist", {"class": "softmax", "from": [s[0] for s in src], "n_out": dim}, dim)

    def reduce(self) -> Value | None:
        if not self.seqs:
            return None
        seq = self.rng.choice(self.seqs)
        mode = self.rng.choice(["mean", "max"])
        return self.put(f"enc_{mode}", {"class": "reduce", "mode": mode, "axes": "T", "from": [seq[0]]},
                        seq[2], recurrent=False)

    def gather(self) -> Value | None:
        if not self.seqs:
            return None
        seq = self.rng.choice(self.seqs)
        return self.put("enc_frame", {"class": "gather", "from": seq[0], "position": ":i", "axis": "T",
                                      "clip_to_valid": True}, seq[2], recurrent=False)

    def slice_(self) -> Value | None:
        known = [v for v in self.dense + self.flat if v[2] is not None and v[2] >= 8]
        if not known:
            return None
        src = self.rng.choice(known)
        end = self.rng.choice([n for n in (4, 8, src[2] // 2) if 0 < n <= src[2]])
        return self.put("slice", {"class": "slice", "axis": "F", "slice_start": 0, "slice_end": end,
                                  "from": [src[0]]}, end)

    def attention(self) -> Value | None:
        if not self.seqs:
            return None
        query = self.pick_dense(1)
        if not query:
            return None
        seq = self.rng.choice(self.seqs)
        key_dim = self.rng.choice(DIMS)
        keys = self.name("att_keys")
        self.unit[keys] = {"class": "linear", "activation": None, "with_bias": False, "from": [seq[0]],
                           "n_out": key_dim}
        q = self.name("att_query")
        self.unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": [query[0][0]],
                        "n_out": key_dim}
        energy = self.name("att_energy")
        self.unit[energy] = {"class": "dot", "from": [keys, q], "red1": "F", "red2": "F", "var1": "T",
                             "var2": None, "add_var2_if_empty": False}
        weights = self.name("att_weights")
        self.unit[weights] = {"class": "softmax_over_spatial", "from": [energy]}
        self.made += [keys, q, energy, weights]
        if self.rng.random() < 0.5:
            return self.put("att_ctx", {"class": "generic_attention", "base": seq[0], "weights": weights},
                            seq[2], recurrent=False)
        weighted = self.name("att_weighted")
        self.unit[weighted] = {"class": "combine", "kind": "mul", "from": [seq[0], weights]}
        self.made.append(weighted)
        return self.put("att_ctx", {"class": "reduce", "mode": "sum", "axes": "T", "from": [weighted]}, seq[2],
                        recurrent=False)

    def subnetwork(self, srcs: list[Value] | None = None) -> Value | None:
        srcs = srcs or self.pick_dense(self.rng.choice([1, 2]))
        if not srcs:
            return None
        da, db = self.rng.choice(DIMS), self.rng.choice(DIMS)
        if self.rng.random() < 0.3:
            a: dict[str, Any] = {"class": "rec", "unit": "lstm", "from": "data", "n_out": da}
        else:
            a = {"class": "linear", "activation": "tanh", "from": "data", "n_out": da}
        b_src = "a"
        loop_vals = [v for v in self.dense if not v[0].startswith("prev:")]
        if loop_vals and self.rng.random() < 0.35:
            b_src = ["a", "base:" + self.rng.choice(loop_vals)[0]]
        b = {"class": "linear", "activation": self.rng.choice(ACTS), "from": b_src, "n_out": db}
        name = self.name("sub")
        self.unit[name] = {"class": "subnetwork", "from": [s[0] for s in srcs],
                           "subnetwork": {"a": a, "b": b, "output": {"class": "copy", "from": ["a", "b"]}}}
        self.made.append(name)
        self.dense += [(name, "dense", da + db), (f"{name}/a", "dense", da), (f"{name}/b", "dense", db)]
        if self.rng.random() < 0.4:
            self.dense.append((f"prev:{name}/a", "dense", da))
        return (name, "dense", da + db)

    def decide(self) -> Value | None:
        src = self.pick_dense(1, with_flat=False)
        if not src:
            return None
        return self.put("decided", {"class": "decide", "from": [src[0][0]]}, src[0][2], recurrent=False)

    def step(self) -> Value | None:
        prods = [(self.linear, 4), (self.combine, 2), (self.concat, 1.5), (self.eval_, 1.5),
                 (self.activation, 1), (self.softmax, 0.7), (self.reduce, 1), (self.attention, 1.5),
                 (self.gather, 0.7), (self.slice_, 0.7), (self.lstm, 2), (self.subnetwork, 1)]
        fn = self.rng.choices([p[0] for p in prods], [p[1] for p in prods])[0]
        return fn()

    def grow(self, n: int) -> None:
        tries = 0
        if self.seqs and self.rng.random() < 0.7:
            self.rng.choice([self.attention, self.attention, self.reduce, self.gather])()
        while len(self.made) < n and tries < 4 * n:
            tries += 1
            self.step()

    def scores(self, key: str, vocab: int, *, base: str = "output_prob", extra: list[str] | None = None) -> str:
        loop_vals = [v for v in self.dense if not v[0].startswith("prev:")]
        srcs = [loop_vals[-1]] if loop_vals else []
        more = [v for v in self.dense + self.flat if v not in srcs]
        if more:
            srcs += self.rng.sample(more, min(len(more), self.rng.choice([0, 1, 2])))
        refs = [s[0] for s in srcs] + list(extra or [])
        name = self.name(base)
        desc: dict[str, Any] = {"class": "softmax", "from": refs}
        style = self.rng.random()
        if style < 0.6:
            desc.update(target=key, loss="ce")
        elif style < 0.8:
            desc.update(target=key, loss="ce", n_out=vocab, dropout=0.1)
        else:
            desc["n_out"] = vocab
        self.unit[name] = desc
        self.made.append(name)
        return name


# ----------------------------------------------------------------------------------------------------
# Picking a decoder


def _label_key(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:") and desc.get("input_type") != "regression":
        return target.removeprefix("data:")
    return None


def _sites(case: Case) -> list[tuple[str, str, str, int]]:
    """(rec, choice name, target key, vocabulary) of searching decoders with a label choice of a known size
    (not an ``extra.*:`` twin, none that has a twin)."""
    net = case["network"]
    sparse = set(_sparse_keys(case))
    out = []
    for rec in _searching_recs(net):
        if ":" in rec or any(k.endswith(f":{rec}") for k in net):
            continue
        unit = net[rec]["unit"]
        for ch in _unit_choices(unit):
            key = _label_key(unit[ch])
            vocab = _target_dim(case, key)
            if key in sparse and isinstance(vocab, int):
                out.append((rec, ch, key, vocab))
    return out


def _loop_input(case: Case, rec: str) -> Value | None:
    """The frame value ``data:source`` of a decoder looping over an input, or None."""
    src = case["network"][rec].get("from")
    src = src[0] if isinstance(src, list) and len(src) == 1 else src
    if not isinstance(src, str) or not src:
        return None
    t = _root_type(case, src)
    if t is None or not t[2]:
        return ("data:source", "dense", None) if src else None
    return ("data:source", t[0], t[1])


def _root_subrefs(net: dict[str, Any], rec: str) -> list[str]:
    """The sub-layer names X of every root reference ``REC/X``."""
    out = set()
    for k in _layers(net):
        refs = [] if k == rec else _deps(net[k])
        unit = net[k].get("unit") if net[k].get("class") == "rec" else None
        if k != rec and isinstance(unit, dict):
            refs += [r[len("base:"):] for v in unit.values() if isinstance(v, dict) for r in _deps(v)
                     if r.startswith("base:")]
        for ref in refs:
            if ref.startswith(f"{rec}/"):
                out.add(ref[len(rec) + 1:].split("/", 1)[0])
    return sorted(out)


def _start(case: Case, rng: random.Random, rec: str) -> tuple[_Synth, dict[str, Any], Value | None]:
    seqs, flat = _encoder_values(case, rec)
    unit: dict[str, Any] = {}
    synth = _Synth(rng, unit, seqs, flat, set())
    inp = _loop_input(case, rec)
    if inp is not None:
        if inp[1] == "label":
            synth.embed(inp, "input_embed")
        elif inp[1] == "dense":
            synth.dense.append(inp)
    return synth, unit, inp


def _feedback(synth: _Synth, choice: str) -> str:
    """The label feedback of the loop: an embedding of ``prev:CHOICE`` or ``prev:`` of an embedding of
    ``CHOICE``; returns a description."""
    dim = synth.rng.choice(DIMS)
    name = synth.name("target_embed")
    if synth.rng.random() < 0.5:
        synth.unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": [f"prev:{choice}"],
                            "n_out": dim}
        synth.dense.append((name, "dense", dim))
        how = f"{name} embeds prev:{choice}"
    else:
        synth.unit[name] = {"class": "linear", "activation": None, "with_bias": False, "from": [choice],
                            "n_out": dim, "initial_output": 0}
        synth.dense.append((f"prev:{name}", "dense", dim))
        how = f"prev:{name} (an embedding of {choice})"
    synth.made.append(name)
    return how


def _finish(case: Case, net: dict[str, Any], rec: str, unit: dict[str, Any], choice: str, prob: str,
            inp: Value | None, old_unit: dict[str, Any]) -> list[str]:
    """``end``, ``output`` and the sub-layers root readers read; the rec gets the unit."""
    notes = []
    if (inp is None or "end" in old_unit) and "end" not in unit:
        unit["end"] = {"class": "compare", "from": [choice], "value": 0}
    if choice != "output" and "output" not in unit:
        unit["output"] = {"class": "copy", "from": [choice]}
    for sub in _root_subrefs(net, rec):
        if sub in unit:
            continue
        old = old_unit.get(sub) if isinstance(old_unit.get(sub), dict) else {}
        src = choice if old.get("class") in ("choice", "copy", "decide") else prob
        unit[sub] = {"class": "copy", "from": [src], "is_output_layer": True}
        notes.append(f"{sub} a copy of {src} for the root (an output layer)")
    net[rec]["unit"] = unit
    return notes


def _choice_desc(rng: random.Random, key: str, old: dict[str, Any], prob: str) -> dict[str, Any]:
    beam = old.get("beam_size", 4)
    if not isinstance(beam, int) or rng.random() < 0.3:
        beam = rng.choice([1, 3, 4, 8])
    return {"class": "choice", "target": key, "beam_size": beam, "from": [prob], "initial_output": 0}


# ----------------------------------------------------------------------------------------------------
# Operators


def op_synth_decoder(case: Case, rng: random.Random) -> Result:
    """The searching decoder's unit replaced by a synthesized one."""
    new, net = _copy(case)
    sites = _sites(case)
    if not sites:
        return None
    rec, choice, key, vocab = rng.choice(sites)
    old_unit = net[rec]["unit"]
    synth, unit, inp = _start(case, rng, rec)
    fb = _feedback(synth, choice)
    synth.grow(rng.randint(3, 10))
    notes = [fb]
    extra: list[str] = []
    twist = rng.random()
    if twist < 0.12:
        kind = rng.choice(["choice", "prev", "dense"])
        if kind == "dense":
            val = synth.decide()
            if val is not None:
                extra.append(val[0])
                notes.append(f"{val[0]} a decide of {unit[val[0]]['from'][0]} read by the scores")
        else:
            dname = synth.name("decided")
            unit[dname] = {"class": "decide", "from": [choice if kind == "choice" else f"prev:{choice}"]}
            if kind == "prev":
                emb = synth.embed((dname, "label", vocab), "decided_embed")
                extra.append(emb[0])
                notes.append(f"{dname} a decide of prev:{choice}, embedded in {emb[0]} for the scores")
            else:
                unit[dname]["is_output_layer"] = True
                notes.append(f"{dname} a decide of {choice}, an output layer")
    prob = synth.scores(key, vocab, extra=extra)
    unit[choice] = _choice_desc(rng, key, old_unit.get(choice, {}), prob)
    if 0.12 <= twist < 0.35:
        emb = synth.name("choice_embed")
        dim = rng.choice(DIMS)
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": [choice], "n_out": dim}
        reader = emb
        states = [v for v in synth.dense if not v[0].startswith("prev:") and v[2] == dim]
        if states and rng.random() < 0.5:
            reader = synth.name("choice_mix")
            unit[reader] = {"class": "combine", "kind": "add", "from": [emb, states[-1][0]]}
        if rng.random() < 0.5:
            unit[reader]["is_output_layer"] = True
            notes.append(f"{reader} (reading this frame's {choice}) an output layer")
        else:
            root = _fresh(net, f"{rec}_{reader}")
            net[root] = {"class": "copy", "from": f"{rec}/{reader}", "is_output_layer": True}
            marked = ""
            if rng.random() < 0.6:
                unit[reader]["is_output_layer"] = True
                marked = f", {reader} marked an output layer"
            notes.append(f"root {root} reads {rec}/{reader} (this frame's {choice}, embedded){marked}")
    notes += _finish(case, net, rec, unit, choice, prob, inp, old_unit)
    return new, (f"{rec}: unit replaced by a synthesized decoder of {len(unit)} layers "
                 f"({', '.join(sorted(unit))}); {'; '.join(notes)}")


def op_synth_two_choices(case: Case, rng: random.Random) -> Result:
    """A synthesized unit with two choices, the second reading the first."""
    new, net = _copy(case)
    sites = _sites(case)
    if not sites:
        return None
    rec, choice, key, vocab = rng.choice(sites)
    old_unit = net[rec]["unit"]
    sparse = [k for k in _sparse_keys(case) if isinstance(_target_dim(case, k), int) and k != "data"]
    others = [k for k in sparse if k != key]
    key2 = rng.choice(others) if others and rng.random() < 0.6 else key
    vocab2 = _target_dim(case, key2) or vocab
    synth, unit, inp = _start(case, rng, rec)
    fb = _feedback(synth, choice)
    synth.grow(rng.randint(3, 8))
    prob1 = synth.scores(key, vocab)
    old = old_unit.get(choice, {})
    unit[choice] = _choice_desc(rng, key, old, prob1)
    second = synth.name(f"{choice}_2" if choice != "output" else "second")
    dim = rng.choice(DIMS)
    emb = synth.name(f"{choice}_embed")
    same_frame = rng.random() < 0.7
    unit[emb] = {"class": "linear", "activation": None, "with_bias": False,
                 "from": [choice if same_frame else f"prev:{choice}"], "n_out": dim}
    state = [v for v in synth.dense if not v[0].startswith("prev:")]
    srcs = [emb] + ([state[-1][0]] if state else [])
    prob2 = synth.name(f"{second}_prob")
    unit[prob2] = {"class": "softmax", "from": srcs, "target": key2, "loss": "ce"}
    if rng.random() < 0.4:
        unit[prob2]["n_out"] = vocab2
    beam2 = rng.choice([1, 1, unit[choice]["beam_size"], 2])
    unit[second] = {"class": "choice", "target": key2, "beam_size": beam2, "from": [prob2], "initial_output": 0}
    if rng.random() < 0.4:
        fb2 = synth.name(f"{second}_embed")
        unit[fb2] = {"class": "linear", "activation": None, "with_bias": False, "from": [f"prev:{second}"],
                     "n_out": dim}
        first_src = unit[prob1]["from"]
        first_src.append(fb2)
    end_on = rng.choice([choice, second])
    out_on = choice if choice == "output" else rng.choice([choice, choice, second])
    if inp is None or "end" in old_unit:
        unit["end"] = {"class": "compare", "from": [end_on], "value": 0}
    if choice != "output":
        unit["output"] = {"class": "copy", "from": [out_on]}
    tgt = rng.random()
    if tgt < 0.3:
        net[rec]["target"] = [key, key2] if key2 != key else key
    elif tgt < 0.5:
        net[rec]["target"] = key2 if out_on == second else key
    notes = _finish(case, net, rec, unit, choice, prob1, inp, old_unit)
    return new, (f"{rec}: unit replaced by a synthesized decoder with two choices: {choice} (target {key}) over "
                 f"{prob1}; {second} (target {key2}, beam {beam2}) over {prob2} reading "
                 f"{'this frame' if same_frame else 'prev:'} {choice} ({emb}); {fb}; end on {end_on}, output "
                 f"{out_on}, rec target {net[rec].get('target')!r}{'; ' + '; '.join(notes) if notes else ''}")


def op_synth_subnet_state(case: Case, rng: random.Random) -> Result:
    """A synthesized unit whose state lives in a loop subnetwork, read by its sub-layers."""
    new, net = _copy(case)
    sites = _sites(case)
    if not sites:
        return None
    rec, choice, key, vocab = rng.choice(sites)
    old_unit = net[rec]["unit"]
    synth, unit, inp = _start(case, rng, rec)
    fb = _feedback(synth, choice)
    emb_vals = [v for v in synth.dense if "target_embed" in v[0]]
    synth.grow(rng.randint(1, 3))
    srcs = emb_vals + synth.pick_dense(1)
    sub = synth.subnetwork(list(dict.fromkeys(srcs)))
    assert sub is not None
    subname = sub[0]
    synth.dense = [v for v in synth.dense if v[0] != subname]
    synth.grow(len(synth.made) + rng.randint(1, 4))
    notes = [fb, f"{subname}: a subnetwork over {', '.join(unit[subname]['from'])}"]
    mode = rng.random()
    if mode < 0.3:
        inner = unit[subname]["subnetwork"]
        inner["prob"] = {"class": "softmax", "from": ["b"], "target": key, "loss": "ce"}
        prob = f"{subname}/prob"
        notes.append(f"the scores {prob} inside it")
    else:
        extra = [f"{subname}/{rng.choice(['a', 'b'])}"]
        prob = synth.scores(key, vocab, extra=extra)
        notes.append(f"{prob} reads {extra[0]}")
    unit[choice] = _choice_desc(rng, key, old_unit.get(choice, {}), prob)
    if rng.random() < 0.2:
        post = synth.name("post_sub")
        dim = rng.choice(DIMS)
        unit[post] = {"class": "subnetwork", "from": [choice],
                      "subnetwork": {"a": {"class": "linear", "activation": None, "from": "data", "n_out": dim},
                                     "output": {"class": "copy", "from": "a"}},
                      "is_output_layer": True}
        notes.append(f"{post}: a subnetwork over this frame's {choice}, an output layer")
    notes += _finish(case, net, rec, unit, choice, prob, inp, old_unit)
    return new, f"{rec}: unit replaced by a synthesized decoder with its state in a subnetwork; {'; '.join(notes)}"


def op_synth_after_decoder(case: Case, rng: random.Random) -> Result:
    """A second synthesized decoder at the root reading a root layer that depends on the first decoder."""
    new, net = _copy(case)
    sites = _sites(case)
    if not sites:
        return None
    rec, choice, key, vocab = rng.choice(sites)
    seqs, flat = _encoder_values(case, rec)
    decides = sorted(k for k in _layers(net) if net[k].get("class") == "decide" and net[k].get("from") in
                     (rec, [rec]))
    how = rng.random()
    if how < 0.4:
        src = rec
        src_note = f"{rec} itself"
    elif decides and how < 0.7:
        src = decides[0]
        src_note = f"the existing decide {src}"
    else:
        src = _fresh(net, f"{rec}_decided")
        net[src] = {"class": "decide", "from": [rec]}
        src_note = f"a new decide {src}"
    dim = rng.choice(DIMS)
    emb = _fresh(net, f"{rec}_label_embed")
    net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": [src], "n_out": dim}
    if rng.random() < 0.6:
        summary = _fresh(net, f"{rec}_summary")
        net[summary] = {"class": "reduce", "mode": "mean", "axes": "T", "from": [emb]}
        first: Value = (f"base:{summary}", "dense", dim)
        flat = [*flat, first]
        read = f"base:{summary} (mean over its frames of {emb})"
    else:
        first = (f"base:{emb}", "timed", dim)
        seqs = [*seqs, first]
        read = f"base:{emb} (its frames embedded) as an encoder sequence"
    rec2 = _fresh(net, f"{rec}_second")
    unit: dict[str, Any] = {}
    synth = _Synth(rng, unit, seqs, flat, set())
    choice2 = "output"
    fb = _feedback(synth, choice2)
    if first[1] == "dense":
        synth.put("first_proj", {"class": "linear", "activation": "tanh", "from": [first[0]], "n_out": dim}, dim,
                  recurrent=False)
    elif rng.random() < 0.5:
        synth.put("first_mean", {"class": "reduce", "mode": "mean", "axes": "T", "from": [first[0]]}, dim,
                  recurrent=False)
    else:
        synth.put("first_frame", {"class": "gather", "from": first[0], "position": ":i", "axis": "T",
                                  "clip_to_valid": True}, dim, recurrent=False)
    synth.grow(rng.randint(3, 8))
    prob = synth.scores(key, vocab)
    unit[choice2] = {"class": "choice", "target": key, "beam_size": rng.choice([1, 4, 8]), "from": [prob],
                     "initial_output": 0}
    unit["end"] = {"class": "compare", "from": [choice2], "value": 0}
    msl = net[rec].get("max_seq_len")
    desc2: dict[str, Any] = {"class": "rec", "from": [], "unit": unit, "target": key, "is_output_layer": True}
    if msl is not None and rng.random() < 0.7:
        desc2["max_seq_len"] = msl
    else:
        desc2["max_seq_len"] = rng.choice([10, 20])
    net[rec2] = desc2
    extra = ""
    if rng.random() < 0.4:
        dec2 = _fresh(net, f"{rec2}_decision")
        net[dec2] = {"class": "decide", "from": [rec2], "is_output_layer": True}
        extra = f"; root {dec2} a decide of it, an output layer"
    return new, (f"root {rec2}: a second synthesized decoder ({len(unit)} layers, target {key}) reading {read}, "
                 f"over {src_note}; {fb}{extra}")


FRESH72_OPERATORS: tuple[Op, ...] = (
    Op("synth-decoder", op_synth_decoder, 2),
    Op("synth-two-choices", op_synth_two_choices, 1),
    Op("synth-subnet-state", op_synth_subnet_state, 1),
    Op("synth-after-decoder", op_synth_after_decoder, 1),
)
