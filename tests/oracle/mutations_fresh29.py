"""A thirty-first set of edit operators (issue 15, ninth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs, after fresh27 was opened: held out,
looked at as counts only when first measured.

Layers that a network reaches only through a layer option other than ``from`` (parameter sharing,
recurrent states, loss targets): RETURNN must still build them, and they can carry a beam (none a variant
of an earlier operator; no rule was written for any of them):

* ``reuse-root-params``: a layer of a searching decoder loop (``linear`` / ``softmax``) shares its
  parameters with a root layer of the same input and output size (``reuse_params`` as ``"base:X"``, as
  ``{"reuse_layer": "base:X"}`` or as a ``map`` of ``W`` / ``b`` to the root layer); the root layer is
  an existing one or a new ``linear`` over a root layer of the right size (a projection of an encoder
  layer the loop reads when there is none), which nothing else reads;
* ``param-from-layer``: a loop ``linear`` / ``softmax`` takes its weight matrix (and maybe its bias)
  from a ``variable`` layer (``reuse_params: {"map": {"W": {"layer_output": ...}}}``), the variable at
  the root (``base:``) or in the loop itself, maybe scaled by an ``eval``;
* ``state-from-decoder``: a root ``rec`` LSTM over an encoder layer starts from a state computed from a
  searching decoder (``initial_state`` a dict ``c`` / ``h`` or a list naming a projection of the mean
  of an embedding of the decoder's output, or of a ``decide`` over it), an output layer;
* ``pseudo-label-target``: a root output layer with a loss takes the decoder's labels as its target
  (``target: "layer:X"``, X the decoder, an existing ``decide`` over it, or a new one): a CTC softmax
  over an encoder layer, or a ``ce`` softmax over an embedding of the decoder's output;
* ``reuse-prev-twin``: a loop ``linear`` / ``softmax`` shares its parameters with a new loop layer of
  the same form over the previous frame's values of its sources (``prev:S``), which nothing else reads
  (``reuse_params`` naming the twin as a string, a ``reuse_layer`` or a ``map``).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _head,
    _layers,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH29_SEED = 20261222
N_FRESH29 = 80

Result = "tuple[Case, str] | None"

#: classes whose feature size is their first source's
_SAME_DIM = ("copy", "dropout", "layer_norm", "activation", "combine", "eval", "decide", "decide_keep_beam",
             "pad", "postfix_in_time", "reinterpret_data", "prefix_in_time", "cumsum", "batch_norm", "scaled_grad")
#: classes with parameters named ``W`` / ``b`` (weight of shape (input size, n_out))
_DENSE = ("linear", "softmax")
#: root layer classes an encoder-side layer with a time axis is not
_NOT_ENCODER = ("reduce", "choice", "decide", "decide_keep_beam", "variable", "constant", "length",
                "range_in_axis", "range_from_length")


def _resolve(ref: str, unit: dict[str, Any] | None, net: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(layer dicts, name) a reference names, seen from ``unit`` (None: the root); ``("", key)``-style
    data references come back as (None, key)."""
    if unit is not None:
        if ref.startswith("prev:"):
            return unit, ref[len("prev:"):]
        if ref.startswith("base:"):
            return _resolve(ref[len("base:"):], None, net)
    if ref == "data":
        return (unit, "<frame input>") if unit is not None else (None, "data")
    if ref.startswith("data:"):
        return None, ref[len("data:"):]
    return (unit if unit is not None else net), ref


def _dim(case: Case, ref: str, unit: dict[str, Any] | None, net: dict[str, Any], depth: int = 0) -> int | None:
    """The feature size (or the vocabulary size of sparse data) of what ``ref`` names, where it is plain
    to read off the layer dicts; None otherwise."""
    if depth > 12 or ":" in ref.replace("prev:", "").replace("base:", "").replace("data:", "") or "/" in ref:
        return None
    layers, name = _resolve(ref, unit, net)
    if layers is None:
        return _target_dim(case, name)
    desc = layers.get(name)
    if not isinstance(desc, dict):
        return None
    scope = unit if layers is unit else None
    cls = desc.get("class")
    if isinstance(desc.get("n_out"), int) and cls not in ("choice", "reduce"):
        return desc["n_out"]
    if cls == "choice" or cls in _DENSE:
        return _out_dim(case, desc)
    if cls == "rec" and isinstance(desc.get("unit"), dict):
        return _dim(case, "output", desc["unit"], net, depth + 1) if "output" in desc["unit"] else None
    srcs = _sources(desc)
    if not srcs or (isinstance(desc.get("from"), list) and len(srcs) != len(desc["from"])):
        return None
    if cls == "concat":
        return None
    if cls == "reduce" and str(desc.get("axis", desc.get("axes"))).lower() not in ("t", "time", "['t']"):
        return None
    if cls in _SAME_DIM or cls == "reduce":
        if cls == "reinterpret_data" and any(k in desc for k in ("set_sparse", "set_sparse_dim")):
            return None
        return _dim(case, srcs[0], scope, net, depth + 1)
    return None


def _in_dim(case: Case, unit: dict[str, Any] | None, net: dict[str, Any], desc: dict[str, Any]) -> int | None:
    """The input size of a ``linear`` / ``softmax`` (its sources' sizes added), None when not plain."""
    srcs = _sources(desc)
    if not srcs or not isinstance(desc.get("from"), (str, list)):
        return None
    if isinstance(desc["from"], list) and len(srcs) != len(desc["from"]):
        return None
    dims = [_dim(case, s, unit, net) for s in srcs]
    return sum(dims) if all(dims) else None  # type: ignore[arg-type]


def _out_dim(case: Case, desc: dict[str, Any]) -> int | None:
    """``n_out``, else the size of the target (one more, the blank, with a CTC loss)."""
    if isinstance(desc.get("n_out"), int):
        return desc["n_out"]
    if desc.get("class") not in (*_DENSE, "choice"):
        return None
    dim = _target_dim(case, desc.get("target"))
    return dim + 1 if dim and desc.get("loss") == "ctc" and desc.get("class") != "choice" else dim


def _main_recs(net: dict[str, Any]) -> list[str]:
    """Searching decoders of the main network (not those of an ``extra.NAME:`` net)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _dense_sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """(rec, loop layer, input size, output size) of the ``linear`` / ``softmax`` layers of searching
    decoders with plain sizes and no ``reuse_params`` yet."""
    out = []
    for rec in _main_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            if desc.get("class") not in _DENSE or "reuse_params" in desc or desc.get("use_transposed_weights"):
                continue
            n_in, n_out = _in_dim(case, unit, net, desc), _out_dim(case, desc)
            if n_in and n_out:
                out.append((rec, k, n_in, n_out))
    return out


def _independent_roots(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers that do not depend on ``rec`` (and are not ``rec``)."""
    return [k for k in _layers(net) if k != rec and rec not in _root_ancestors(net, k)]


def _encoders(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Dense root layers the loop of ``rec`` reads through ``base:`` that (likely) have a time axis."""
    unit = net[rec]["unit"]
    out = set()
    for k in _layers(unit):
        for ref in _sources(unit[k]):
            if not ref.startswith("base:") or ref.startswith("base:data"):
                continue
            name = ref[len("base:"):]
            if name not in net or name == rec:
                continue
            desc = net[name]
            if desc.get("class") in _NOT_ENCODER or (desc.get("class") == "rec"
                                                    and isinstance(desc.get("unit"), dict)):
                continue
            if rec in _root_ancestors(net, name):
                continue
            out.add(name)
    if not out:
        ext = (case.get("extern_data") or {}).get("data")
        if isinstance(ext, dict) and not ext.get("sparse") and not ext.get("sparse_dim"):
            out.add("data")
    return sorted(out)


def _label_dim(case: Case, net: dict[str, Any], rec: str) -> int | None:
    """The vocabulary size of the labels a searching decoder puts out (its ``output`` choice's target)."""
    out = net[rec]["unit"].get("output")
    if not isinstance(out, dict) or out.get("class") != "choice" or out.get("input_type") == "regression":
        return None
    return _target_dim(case, out.get("target"))


def _reuse_ref(name: str, desc: dict[str, Any], rng: random.Random) -> tuple[Any, str]:
    """A ``reuse_params`` value naming ``name`` and how it was written."""
    form = rng.choice(["str", "reuse_layer", "map", "map-w"])
    if form == "str":
        return name, f"reuse_params {name!r}"
    if form == "reuse_layer":
        return {"reuse_layer": name}, f"reuse_params.reuse_layer {name!r}"
    if desc.get("with_bias") is False:
        return {"map": {"W": name}}, f"reuse_params map W -> {name!r}"
    if form == "map":
        return {"map": {"W": name, "b": name}}, f"reuse_params map W, b -> {name!r}"
    return ({"map": {"W": {"reuse_layer": name}, "b": None}},
            f"reuse_params map W -> {name!r} (own b)")


def op_reuse_root_params(case: Case, rng: random.Random) -> Result:
    """A loop ``linear`` / ``softmax`` shares its parameters with a root layer of the same sizes."""
    new, net = _copy(case)
    sites = _dense_sites(case, net)
    if not sites:
        return None
    rec, name, n_in, n_out = rng.choice(sites)
    desc = net[rec]["unit"][name]
    roots = _independent_roots(net, rec)
    bias = desc.get("with_bias", True) is not False
    same = [k for k in roots if net[k].get("class") in _DENSE and "reuse_params" not in net[k]
            and (net[k].get("with_bias", True) is not False) == bias and not net[k].get("use_transposed_weights")
            and _out_dim(case, net[k]) == n_out and _in_dim(case, None, net, net[k]) == n_in]
    fits = [k for k in roots if net[k].get("class") not in ("variable", "constant")
            and _dim(case, k, None, net) == n_in]
    encs = _encoders(case, net, rec)
    if same and rng.random() < 0.5:
        shared, how = rng.choice(same), "the existing root layer"
    else:
        extra = ""
        if fits:
            src = rng.choice(fits)
        elif encs:
            enc = rng.choice(encs)
            src = _fresh(net, f"{enc}_to_{n_in}")
            net[src] = {"class": "linear", "activation": "tanh", "from": enc, "n_out": n_in}
            extra = f" over {src} (a projection of {enc})"
        else:
            return None
        shared = _fresh(net, f"{name}_shared")
        act = desc.get("activation") if desc.get("class") == "linear" else "softmax"
        net[shared] = {"class": "linear", "activation": act, "from": src, "n_out": n_out}
        if not bias:
            net[shared]["with_bias"] = False
        how = f"a new root linear{extra}" if extra else f"a new root linear over {src}"
    value, text = _reuse_ref(f"base:{shared}", desc, rng)
    desc["reuse_params"] = value
    return new, f"{rec}/{name} gets {text}: shares its parameters with {shared}, {how}"


def op_param_from_layer(case: Case, rng: random.Random) -> Result:
    """A loop ``linear`` / ``softmax`` takes its weight matrix (and maybe bias) from a ``variable`` layer."""
    new, net = _copy(case)
    sites = _dense_sites(case, net)
    if not sites:
        return None
    rec, name, n_in, n_out = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[name]
    at_root = rng.random() < 0.6
    layers = net if at_root else unit
    prefix = "base:" if at_root else ""
    where = "" if at_root else f"{rec}/"
    var = _fresh(set(net) | set(unit), f"{name}_weights")
    layers[var] = {"class": "variable", "from": [], "shape": [n_in, n_out],
                   "init": rng.choice(["glorot_uniform", "random_normal_initializer(stddev=0.01)"])}
    weight, what = var, f"variable {where}{var} [{n_in}, {n_out}]"
    if rng.random() < 0.35:
        scaled = _fresh(set(net) | set(unit), f"{var}_scaled")
        layers[scaled] = {"class": "eval", "from": var, "eval": "source(0) * 0.5"}
        weight, what = scaled, f"{what} scaled by {where}{scaled}"
    mapping: dict[str, Any] = {"W": {"layer_output": prefix + weight}}
    if desc.get("with_bias", True) is not False:
        if rng.random() < 0.5:
            bvar = _fresh(set(net) | set(unit), f"{name}_bias")
            layers[bvar] = {"class": "variable", "from": [], "shape": [n_out]}
            mapping["b"] = {"layer_output": prefix + bvar}
            what += f", b from variable {where}{bvar}"
        else:
            mapping["b"] = None
            what += ", its own b"
    desc["reuse_params"] = {"map": mapping}
    return new, f"{rec}/{name} takes W from {what} (reuse_params map layer_output)"


def _decoder_summary(case: Case, net: dict[str, Any], rec: str, rng: random.Random) -> tuple[str, str] | None:
    """A root layer reading a searching decoder's labels (the rec layer, an existing ``decide`` over it,
    or a new one) and how it was chosen."""
    deciders = [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]
    r = rng.random()
    if deciders and r < 0.35:
        dec = rng.choice(deciders)
        return dec, f"the decide layer {dec} over {rec}"
    if r < 0.65:
        dec = _fresh(net, f"{rec}_decided")
        net[dec] = {"class": "decide", "from": rec}
        return dec, f"a new decide layer {dec} over {rec}"
    return rec, f"the decoder {rec}"


def op_state_from_decoder(case: Case, rng: random.Random) -> Result:
    """A root LSTM over an encoder layer starts from a state computed from a searching decoder's output."""
    new, net = _copy(case)
    sites = [(r, e) for r in _main_recs(net) if _label_dim(case, net, r)
             for e in _encoders(case, net, r)]
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    res = _decoder_summary(case, net, rec, rng)
    if res is None:
        return None
    labels, via = res
    hidden = rng.choice([4, 8, 16])
    emb = _fresh(net, f"{labels}_embed")
    net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": labels,
                "n_out": rng.choice([4, 8])}
    mean = _fresh(net, f"{emb}_mean")
    net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": emb}
    init = _fresh(net, f"{enc}_lstm_init")
    net[init] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": hidden}
    form = rng.choice(["dict", "dict-h", "list"])
    state: Any
    if form == "dict":
        state = {"c": init, "h": init}
    elif form == "dict-h":
        state = {"c": "zeros", "h": init}
    else:
        state = [init, init]
    lstm = _fresh(net, f"{enc}_lstm_from_{rec}")
    net[lstm] = {"class": "rec", "unit": rng.choice(["nativelstm2", "lstm"]), "from": enc, "n_out": hidden,
                 "initial_state": state, "is_output_layer": True}
    return new, (f"{lstm}: an LSTM over {enc} with initial_state {state!r}, {init} a projection of the mean "
                 f"of {emb}, an embedding of {via}")


def op_pseudo_label_target(case: Case, rng: random.Random) -> Result:
    """A root output layer with a loss whose target is the searching decoder's labels (``layer:X``)."""
    new, net = _copy(case)
    sites = [(r, dim) for r in _main_recs(net) if (dim := _label_dim(case, net, r))]
    if not sites:
        return None
    rec, dim = rng.choice(sites)
    encs = _encoders(case, net, rec)
    res = _decoder_summary(case, net, rec, rng)
    if res is None:
        return None
    labels, via = res
    aux = _fresh(net, f"{rec}_pseudo_aux")
    if encs and rng.random() < 0.65:
        enc = rng.choice(encs)
        net[aux] = {"class": "softmax", "from": enc, "n_out": dim + 1, "loss": "ctc",
                    "target": f"layer:{labels}", "is_output_layer": True}
        what = f"a CTC softmax over {enc}"
    else:
        emb = _fresh(net, f"{labels}_aux_embed")
        net[emb] = {"class": "linear", "activation": "tanh", "from": labels, "n_out": rng.choice([4, 8])}
        net[aux] = {"class": "softmax", "from": emb, "n_out": dim, "loss": "ce",
                    "target": f"layer:{labels}", "is_output_layer": True}
        what = f"a ce softmax over {emb} (an embedding of {labels})"
    if rng.random() < 0.3:
        net[aux]["loss_scale"] = rng.choice([0.1, 0.5])
    return new, f"{aux}: {what}, target 'layer:{labels}' ({via})"


def op_reuse_prev_twin(case: Case, rng: random.Random) -> Result:
    """A loop ``linear`` / ``softmax`` shares its parameters with a new twin over ``prev:`` of its sources."""
    new, net = _copy(case)
    sites = []
    for rec, name, _, n_out in _dense_sites(case, net):
        unit = net[rec]["unit"]
        srcs = _sources(unit[name])
        if any(_head(s) in unit and "/" not in s for s in srcs) and not any("/" in s for s in srcs
                                                                              if _head(s) in unit):
            sites.append((rec, name, n_out))
    if not sites:
        return None
    rec, name, n_out = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[name]
    twin = _fresh(unit, f"{name}_prev_twin")
    keep = {k: copy.deepcopy(v) for k, v in desc.items()
            if k not in ("is_output_layer", "loss", "loss_opts", "loss_scale", "target", "reuse_params",
                         "initial_output", "from", "n_out", "out_dim")}
    srcs = [f"prev:{s}" if _head(s) in unit else s for s in _sources(desc)]
    unit[twin] = {**keep, "from": srcs if len(srcs) > 1 else srcs[0], "n_out": n_out}
    value, text = _reuse_ref(twin, desc, rng)
    desc["reuse_params"] = value
    return new, f"{rec}/{name} gets {text}: {rec}/{twin} reads {srcs}, nothing else reads it"


FRESH29_OPERATORS: tuple[Op, ...] = (
    Op("reuse-root-params", op_reuse_root_params, 1),
    Op("param-from-layer", op_param_from_layer, 1),
    Op("state-from-decoder", op_state_from_decoder, 1),
    Op("pseudo-label-target", op_pseudo_label_target, 1),
    Op("reuse-prev-twin", op_reuse_prev_twin, 1),
)
