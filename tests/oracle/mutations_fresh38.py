"""A fortieth set of edit operators (issue 15, tenth session), written and seeded before it was ever run,
held out: looked at as counts only when first measured.

Dtype and numeric edits of a decoder's scores, states and labels, as a user makes them for precision,
memory or calibration (none a variant of an earlier one; no rule was written for any of them):

* ``score-dtype``: a choice reads its scores through a ``cast`` to ``float64`` or ``float16`` (more
  precision for the beam scores, or half precision for memory), maybe cast back to ``float32`` by a
  second ``cast`` before the choice; in a loop, or at the root where the choice is there;
* ``state-dtype``: a loop layer whose previous frame is read is kept in another precision: a ``cast`` of
  it to ``float16`` or ``float64`` (with the layer's ``initial_output`` where that is a value), and the
  readers of its previous frame read ``prev:`` of the cast, either directly or cast back to ``float32``
  in the frame;
* ``label-dtype``: the labels a loop choice feeds on (its readers in the frame or of its previous frame)
  are read through a ``cast`` to ``int64`` or ``int32`` (sparse, same vocabulary; for the previous frame
  ``prev:`` of the cast, or a cast of ``prev:`` of the choice in the frame), or through a round
  trip over ``float32``: ``cast`` to float, ``cast`` back to ``int32`` and a ``reinterpret_data``
  making the labels sparse again (``set_sparse``, ``set_sparse_dim`` the vocabulary size);
* ``log-space``: a choice's scores change space: a ``softmax`` becomes a ``linear`` layer with
  ``log_softmax`` activation (and back, a log-softmax becomes a softmax), or the choice reads an ``eval``
  (``safe_log`` / ``tf.exp``) or an ``activation`` layer (``log`` / ``exp``) of its scores, or the scores'
  ``activation`` becomes ``sigmoid`` / ``log_sigmoid`` / none (or the other of softmax / log-softmax);
  the choice's ``input_type`` follows (``prob`` / ``log_prob`` / ``logits``) or is left as it was;
* ``score-rescale``: a choice reads its scores rescaled: a temperature (``eval``: a power of the
  probabilities, or log-scores divided, maybe renormalised), a clipping (``eval`` with
  ``tf.clip_by_value``), or a ``combine`` (``add`` / ``mul`` / ``sub`` / ``maximum``) of the scores with
  the previous frame's scores (``prev:``), with a trained label prior (a root ``variable`` of the
  vocabulary's size read as ``base:``, or one in the loop), or with a ``constant`` floor.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _choice_sites,
    _copy,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
    _where,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH38_SEED = 20261231
N_FRESH38 = 80

Result = "tuple[Case, str] | None"

#: float-valued loop layer classes whose previous frame a user would keep in another precision
_STATES = ("linear", "rnn_cell", "rec", "combine", "eval", "copy", "activation", "generic_attention",
           "dot_attention", "softmax", "merge_dims", "dropout", "reduce_out", "layer_norm")


def _scope(net: dict[str, Any], rec: str | None) -> dict[str, Any]:
    return net if rec is None else net[rec]["unit"]


def _score_sites(net: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(rec or None, choice, scores) of every label choice (not a regression) with a single score
    source of its own scope."""
    out = []
    for rec, c in _choice_sites(net):
        layers = _scope(net, rec)
        desc = layers[c]
        if desc.get("input_type") == "regression":
            continue
        srcs = _sources(desc)
        if len(srcs) == 1 and srcs[0] in layers and isinstance(layers[srcs[0]], dict):
            out.append((rec, c, srcs[0]))
    return out


def _space(choice: dict[str, Any]) -> str:
    return choice.get("input_type", "prob")


def _plain_initial(init: object) -> bool:
    """Whether an ``initial_output`` is a value (a number, ``zeros``, ...) rather than a layer, whose dtype
    a cast's initial output would not match."""
    return init is not None and (not isinstance(init, str) or init in ("zeros", "ones", "var")
                                 or init.startswith("apply("))


def _dim(case: Case, layers: dict[str, Any], choice: str, scores: str) -> int | None:
    n_out = layers[scores].get("n_out")
    if isinstance(n_out, int):
        return n_out
    return _target_dim(case, layers[choice].get("target"))


def op_score_dtype(case: Case, rng: random.Random) -> Result:
    """A choice reads its scores cast to float64 / float16, maybe cast back to float32."""
    new, net = _copy(case)
    sites = _score_sites(net)
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    layers = _scope(net, rec)
    dtype = rng.choice(["float64", "float16"])
    cast = _fresh(layers, f"{scores}_{dtype}")
    layers[cast] = {"class": "cast", "dtype": dtype, "from": scores}
    read, how = cast, f"cast to {dtype}"
    if rng.random() < 0.35:
        back = _fresh(layers, f"{cast}_float32")
        layers[back] = {"class": "cast", "dtype": "float32", "from": cast}
        read, how = back, f"cast to {dtype} ({cast}) and back to float32 ({back})"
    layers[choice]["from"] = read
    return new, f"{_where(rec, choice)} reads {_where(rec, scores)} {how}"


def op_state_dtype(case: Case, rng: random.Random) -> Result:
    """A loop layer's previous frame is kept in float16 / float64 and read through the cast."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            if k == "end" or unit[k].get("class") not in _STATES:
                continue
            if _readers(unit, k, f"prev:{k}"):
                sites.append((rec, k))
    if not sites:
        return None
    rec, state = rng.choice(sites)
    unit = net[rec]["unit"]
    dtype = rng.choice(["float16", "float64"])
    readers = _readers(unit, state, f"prev:{state}")
    cast = _fresh(unit, f"{state}_{dtype}")
    unit[cast] = {"class": "cast", "dtype": dtype, "from": state}
    init = unit[state].get("initial_output")
    if _plain_initial(init):
        unit[cast]["initial_output"] = init
    if rng.random() < 0.4:
        back = _fresh(unit, f"prev_{state}_float32")
        unit[back] = {"class": "cast", "dtype": "float32", "from": f"prev:{cast}"}
        _redirect(unit, readers, f"prev:{state}", back)
        how = f"{back} (prev:{cast} cast back to float32)"
    else:
        _redirect(unit, readers, f"prev:{state}", f"prev:{cast}")
        how = f"prev:{cast} directly"
    return new, f"{rec}: {', '.join(readers)} read prev:{state} kept as {dtype} ({cast}): {how}"


def op_label_dtype(case: Case, rng: random.Random) -> Result:
    """The labels a loop choice feeds on are read cast to int64 / int32, or round-tripped over float32."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            if unit[c].get("input_type") == "regression":
                continue
            if _readers(unit, c):
                sites.append((rec, c, False))
            if _readers(unit, c, f"prev:{c}"):
                sites.append((rec, c, True))
    if not sites:
        return None
    rec, choice, prev = rng.choice(sites)
    unit = net[rec]["unit"]
    ref = f"prev:{choice}" if prev else choice
    readers = _readers(unit, choice, ref)
    kind = rng.choice(["int64", "int32", "float32"])
    init = unit[choice].get("initial_output")
    if kind != "float32":
        in_frame = prev and rng.random() < 0.4
        cast = _fresh(unit, f"prev_{choice}_{kind}" if in_frame else f"{choice}_{kind}")
        unit[cast] = {"class": "cast", "dtype": kind, "from": ref if in_frame else choice}
        if in_frame:
            _redirect(unit, readers, ref, cast)
            return new, f"{rec}: {', '.join(readers)} read {cast} ({ref} cast to {kind} in the frame)"
        chain = [cast]
    else:
        dim = _target_dim(case, unit[choice].get("target"))
        if dim is None:
            return None
        as_float = _fresh(unit, f"{choice}_float")
        unit[as_float] = {"class": "cast", "dtype": "float32", "from": choice}
        as_int = _fresh(unit, f"{choice}_int")
        unit[as_int] = {"class": "cast", "dtype": "int32", "from": as_float}
        cast = _fresh(unit, f"{choice}_labels")
        unit[cast] = {"class": "reinterpret_data", "from": as_int, "set_sparse": True, "set_sparse_dim": dim}
        chain = [as_float, as_int, cast]
    if prev and _plain_initial(init):
        unit[cast]["initial_output"] = init
    _redirect(unit, readers, ref, f"prev:{cast}" if prev else cast)
    read = f"prev:{cast}" if prev else cast
    return new, f"{rec}: {', '.join(readers)} read {read} instead of {ref} (labels via {' -> '.join(chain)})"


def op_log_space(case: Case, rng: random.Random) -> Result:
    """A choice's scores change between probability, log-probability and logit space."""
    new, net = _copy(case)
    sites = _score_sites(net)
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    layers = _scope(net, rec)
    ch, sc = layers[choice], layers[scores]
    space = _space(ch)
    cls, act = sc.get("class"), sc.get("activation")
    follow = rng.random() < 0.6
    where_c, where_s = _where(rec, choice), _where(rec, scores)
    modes = ["eval", "activation-layer"]
    if cls == "softmax" or (cls == "linear" and act == "softmax"):
        modes += ["to-log-softmax", "to-log-softmax", "activation"]
    elif cls == "linear" and act == "log_softmax":
        modes += ["to-softmax", "to-softmax", "activation"]
    elif cls in ("linear", "combine") and act is not None:
        modes += ["activation"]
    mode = rng.choice(modes)
    if mode == "to-log-softmax":
        layers[scores] = {k: v for k, v in sc.items() if k != "class"}
        layers[scores].update({"class": "linear", "activation": "log_softmax"})
        if "n_out" not in layers[scores]:
            dim = _dim(case, layers, choice, scores)
            if dim is None and not sc.get("target"):
                return None
            if dim is not None:
                layers[scores]["n_out"] = dim
        new_space = "log_prob"
        what = f"{where_s} becomes a linear layer with log_softmax activation"
    elif mode == "to-softmax":
        sc["activation"] = "softmax"
        if rng.random() < 0.5:
            sc["class"] = "softmax"
            del sc["activation"]
        new_space = "prob"
        what = f"{where_s} becomes a {sc['class']} with softmax"
    elif mode == "activation":
        act2 = rng.choice([a for a in ("sigmoid", "log_sigmoid", None, "log_softmax", "softmax") if a != act])
        if cls == "softmax":
            sc["class"] = "linear"
        sc["activation"] = act2
        new_space = {"sigmoid": "prob", "log_sigmoid": "log_prob", None: "logits",
                     "log_softmax": "log_prob", "softmax": "prob"}[act2]
        what = f"{where_s} gets activation {act2!r}"
    else:
        to_log = space == "prob"
        if space == "logits":
            to_log = rng.random() < 0.5
        if mode == "eval":
            expr = "safe_log(source(0))" if to_log else "tf.exp(source(0))"
            if space == "logits" and to_log:
                expr = "tf.nn.log_softmax(source(0))"
            name = _fresh(layers, f"{scores}_{'log' if to_log else 'exp'}")
            layers[name] = {"class": "eval", "from": scores, "eval": expr}
        else:
            name = _fresh(layers, f"{scores}_{'log' if to_log else 'exp'}")
            layers[name] = {"class": "activation", "from": scores,
                            "activation": ("log_softmax" if space == "logits" else "safe_log") if to_log
                            else "exp"}
        ch["from"] = name
        new_space = "log_prob" if to_log else "prob"
        what = f"{where_c} reads {name} ({layers[name]['class']} {'log' if to_log else 'exp'} of {where_s})"
    if follow:
        if new_space == "prob":
            ch.pop("input_type", None)
            if rng.random() < 0.5:
                ch["input_type"] = "prob"
        else:
            ch["input_type"] = new_space
    now = _space(ch)
    return new, f"{what}; {where_c} input_type {space} -> {now}"


def op_score_rescale(case: Case, rng: random.Random) -> Result:
    """A choice reads its scores under a temperature, clipped, or combined with prev scores / a prior."""
    new, net = _copy(case)
    sites = _score_sites(net)
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    layers = _scope(net, rec)
    ch = layers[choice]
    log = _space(ch) in ("log_prob", "logits")
    where_c, where_s = _where(rec, choice), _where(rec, scores)
    mode = rng.choice(["temperature", "clip", "combine", "combine"])
    if mode == "temperature":
        temp = rng.choice([0.5, 2.0, 1.5])
        if log:
            expr = rng.choice([f"source(0) / {temp}", f"tf.nn.log_softmax(source(0) / {temp})"])
        else:
            expr = rng.choice([f"source(0) ** {1 / temp}",
                               f"tf.nn.softmax(safe_log(source(0)) / {temp})"])
        name = _fresh(layers, f"{scores}_temp")
        layers[name] = {"class": "eval", "from": scores, "eval": expr}
        ch["from"] = name
        return new, f"{where_c} reads {name}: {where_s} at temperature {temp} ({expr})"
    if mode == "clip":
        lo, hi = rng.choice([(-30.0, 0.0), (-1e3, 0.0)]) if log else rng.choice([(1e-10, 1.0), (1e-6, 1.0)])
        name = _fresh(layers, f"{scores}_clipped")
        layers[name] = {"class": "eval", "from": scores, "eval": f"tf.clip_by_value(source(0), {lo}, {hi})"}
        ch["from"] = name
        return new, f"{where_c} reads {name}: {where_s} clipped to [{lo}, {hi}]"
    kind = rng.choice(["add", "mul", "sub", "maximum"])
    partners = ["prior", "floor"] + (["prev"] if rec is not None else [])
    partner = rng.choice(partners)
    if partner == "prev":
        other = f"prev:{scores}"
        what = f"the previous frame's {where_s}"
    elif partner == "floor":
        other = _fresh(layers, f"{scores}_floor")
        layers[other] = {"class": "constant", "value": -20.0 if log else 1e-8}
        what = f"a constant {other}"
    else:
        dim = _dim(case, layers, choice, scores)
        if dim is None:
            return None
        at_root = rec is not None and rng.random() < 0.6
        home = net if at_root else layers
        prior = _fresh(home, "label_prior")
        home[prior] = {"class": "variable", "shape": [dim], "init": 0.0 if log else 1.0}
        other = f"base:{prior}" if at_root else prior
        what = f"a trained label prior {prior}" + (" (root)" if at_root else "")
    name = _fresh(layers, f"{scores}_{kind}")
    layers[name] = {"class": "combine", "kind": kind, "from": [scores, other]}
    ch["from"] = name
    return new, f"{where_c} reads {name}: combine {kind} of {where_s} and {what}"


FRESH38_OPERATORS: tuple[Op, ...] = (
    Op("score-dtype", op_score_dtype, 1),
    Op("state-dtype", op_state_dtype, 1.5),
    Op("label-dtype", op_label_dtype, 0.8),
    Op("log-space", op_log_space, 1),
    Op("score-rescale", op_score_rescale, 1),
)
