"""A forty-fourth set of edit operators (issue 15, eleventh session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Parameter, initialisation and regularisation options a user leaves on the layers of a network that is then
used for search, and normalisation layers put around a decoder (none a variant of an earlier operator; no
rule was written for any of them):

* ``param-regularisers``: a layer with parameters (``linear``, ``softmax``, ``rnn_cell``, ``rec``) of a
  searching decoder loop, every such layer of the loop at once, or a root encoder layer with parameters the
  decoder reads, gets one or two training-time regularisers: ``param_variational_noise``,
  ``param_dropout`` (maybe with ``param_dropout_min_ndim`` 2), ``L2``, ``spatial_smoothing`` (only where
  the feature size factors into two sides of at least 3) or, at the root, ``darc1``;
* ``init-freeze``: a layer with parameters of a searching decoder loop (or a root encoder layer, or the
  searching ``rec`` layer itself) gets initialisation or freezing options: ``forward_weights_init`` /
  ``bias_init`` / ``with_bias: False`` on a ``linear`` / ``softmax``, ``weights_init`` on an ``rnn_cell``,
  ``forward_weights_init`` / ``recurrent_weights_init`` / ``bias_init`` on a ``rec``, and / or
  ``trainable: False``;
* ``norm-around-decoder``: a normalisation layer (``layer_norm``, ``norm`` over ``F`` or ``T``, or
  ``batch_norm`` with some of its options) is put on one edge around a searching decoder: between a root
  encoder layer and the loop layers that read it (``base:``) or the rec layer's ``from``; between a
  decoder with dense (regression) output and its root readers (a new output layer when there are none); at
  the root over a dense loop layer read from outside (``REC/LAYER``, the loop layer marked
  ``is_output_layer`` or, as often, left unmarked), as a new output layer; or inside the loop between a
  dense loop layer and the readers of its previous frame (they read ``prev:`` of the normalised layer);
* ``batch-norm-opt``: the layer option ``batch_norm`` (``True`` or a dict of ``masked_time``, False in the
  loop where a frame has no time axis, ``momentum``, ``epsilon``, ``use_sample``, ``force_sample``,
  ``update_sample_only_in_training``, ``param_version``) is set on an existing dense layer: a loop layer
  of a searching decoder (the layer the choice scores on included) or a root encoder layer the decoder
  reads;
* ``target-embed-tie``: the loop's label embedding (a ``linear`` over the choice or ``prev:`` of it) is
  tied to a new root embedding of the target data (``linear`` over ``data:TARGET`` with the same size,
  bias and activation, as for a training-time language model): either the loop layer takes the root
  layer's parameters (``reuse_params`` ``"base:X"``, ``{"reuse_layer": ...}`` or a ``map`` of ``W`` /
  ``b``) and the root layer is left unread, or the root layer, an output layer, takes the loop layer's
  parameters (``reuse_params`` naming ``REC/LAYER`` as a string, a ``reuse_layer`` or a ``map``).
"""

from __future__ import annotations

import math
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
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH42_SEED = 20270104
N_FRESH42 = 80

Result = "tuple[Case, str] | None"

#: layer classes with trainable parameters a user sets parameter options on
_PARAM = ("linear", "softmax", "rnn_cell", "rec")
#: root layer classes with parameters (encoder side)
_ROOT_PARAM = ("linear", "softmax", "rec", "conv")
#: float-valued loop layer classes
_DENSE = ("linear", "rnn_cell", "activation", "combine", "generic_attention", "dot_attention", "softmax",
          "rec", "eval", "reduce_out", "merge_dims")
#: loop output layer classes that make a decoder's output dense
_OUT_DENSE = ("linear", "rnn_cell", "activation", "combine", "softmax", "generic_attention", "dot_attention",
              "reduce_out")
#: root layer classes that give float values over the encoder's time
_ROOT_DENSE = ("linear", "rec", "conv", "pool", "softmax", "copy", "combine", "activation", "eval",
               "dropout", "merge_dims")


def _loop_param_layers(unit: dict[str, Any]) -> list[str]:
    """Loop layers with parameters of their own (a ``rec`` only with a string unit)."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        cls = desc.get("class")
        if cls not in _PARAM or k == "end":
            continue
        if cls == "rec" and not isinstance(desc.get("unit"), str):
            continue
        out.append(k)
    return out


def _sparse_root(case: Case, net: dict[str, Any], name: str, depth: int = 0) -> bool:
    """Whether a root layer (roughly) gives labels: a copy of sparse data, a choice, a decide, a rec
    with a target."""
    desc = net.get(name)
    if not isinstance(desc, dict) or depth > 8:
        return True
    cls = desc.get("class")
    if cls in ("choice", "decide", "decide_keep_beam", "cast", "compare", "reduce", "length"):
        return True
    if cls == "rec" and (desc.get("target") or isinstance(desc.get("unit"), dict)):
        return True
    if cls in ("copy", "reinterpret_data", "dropout", "pool", "merge_dims"):
        sparse = set(_sparse_keys(case))
        srcs = _sources(desc) or ["data"]
        for s in srcs:
            key = s[len("data:"):] if s.startswith("data:") else ("data" if s == "data" else None)
            if key is not None:
                if key in sparse:
                    return True
            elif ":" in s or "/" in s or _sparse_root(case, net, s, depth + 1):
                return True
    return False


def _encoder_layers(case: Case, net: dict[str, Any], rec: str, classes: tuple[str, ...]) -> list[str]:
    """Dense root layers ``rec`` reads (transitively) of the given classes."""
    out = []
    for k in sorted(_root_ancestors(net, rec)):
        desc = net[k]
        if desc.get("class") not in classes or _sparse_root(case, net, k):
            continue
        if desc.get("class") == "rec" and not isinstance(desc.get("unit"), str):
            continue
        out.append(k)
    return out


def _direct_encoder(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Dense root layers the decoder reads directly: ``base:X`` in its unit or X in its ``from``."""
    unit = net[rec]["unit"]
    names = set(_sources(net[rec]))
    for k in _layers(unit):
        for ref in _refs_of(unit[k]):
            if ref.startswith("base:") and not ref.startswith("base:data"):
                names.add(ref[len("base:"):].split("/", 1)[0])
    return [n for n in sorted(names) if n in net and net[n].get("class") in _ROOT_DENSE
            and not _sparse_root(case, net, n)]


def _refs_of(desc: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    _map_refs(dict(desc), lambda r: seen.append(r) or r)
    return seen


def _n_out(desc: dict[str, Any]) -> int | None:
    n = desc.get("n_out")
    return n if isinstance(n, int) else None


def _smoothable(dim: int | None) -> bool:
    """Whether ``spatial_smoothing_energy`` can view a feature size ``dim`` as a 2D grid (sides >= 3)."""
    if not dim:
        return False
    w = int(math.sqrt(dim))
    while w > 0 and dim % w:
        w -= 1
    return w >= 3 and dim // w >= 3


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str) and not unit[c]["target"].startswith("layer:")]


def _pick(groups: dict[str, list[Any]], rng: random.Random) -> tuple[str, Any] | None:
    """A kind of site drawn among the non-empty groups (sorted by kind), then a site of that kind."""
    kinds = [k for k in sorted(groups) if groups[k]]
    if not kinds:
        return None
    kind = rng.choice(kinds)
    return kind, rng.choice(groups[kind])


# ----------------------------------------------------------------------------------------------------


def _regulariser_opts(desc: dict[str, Any], root: bool, rng: random.Random) -> dict[str, Any]:
    pool = ["noise", "dropout", "l2"]
    if _smoothable(_n_out(desc)) and desc.get("class") in ("linear", "softmax"):
        pool.append("smooth")
    if root and desc.get("class") in ("linear", "softmax"):
        pool.append("darc1")
    opts: dict[str, Any] = {}
    for kind in rng.sample(pool, rng.choice([1, 1, 2])):
        if kind == "noise":
            opts["param_variational_noise"] = rng.choice([0.05, 0.075, 0.1])
        elif kind == "dropout":
            opts["param_dropout"] = rng.choice([0.1, 0.2])
            if rng.random() < 0.5:
                opts["param_dropout_min_ndim"] = 2
        elif kind == "l2":
            opts["L2"] = rng.choice([0.0001, 0.0005, 0.001])
        elif kind == "smooth":
            opts["spatial_smoothing"] = rng.choice([0.001, 0.01])
        else:
            opts["darc1"] = rng.choice([0.0001, 0.001])
    return opts


def op_param_regularisers(case: Case, rng: random.Random) -> Result:
    """Training-time parameter regularisers on a layer with parameters of (or feeding) a decoder."""
    new, net = _copy(case)
    groups: dict[str, list[tuple[str, str | None]]] = {"all": [], "loop": [], "root": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        groups["loop"] += [(rec, k) for k in _loop_param_layers(unit)]
        if len(_loop_param_layers(unit)) > 1:
            groups["all"].append((rec, None))
        groups["root"] += [(rec, f"base:{k}") for k in _encoder_layers(case, net, rec, _ROOT_PARAM)]
    picked = _pick(groups, rng)
    if picked is None:
        return None
    rec, name = picked[1]
    unit = net[rec]["unit"]
    if name is None:
        names = _loop_param_layers(unit)
        opts = _regulariser_opts({}, False, rng)
        for k in names:
            unit[k].update(opts)
        where = f"every layer with parameters of {rec} ({', '.join(f'{rec}/{k}' for k in names)})"
    elif name.startswith("base:"):
        k = name[len("base:"):]
        opts = _regulariser_opts(net[k], True, rng)
        net[k].update(opts)
        where = f"root layer {k} (read by {rec})"
    else:
        opts = _regulariser_opts(unit[name], False, rng)
        unit[name].update(opts)
        where = f"{rec}/{name}"
    text = ", ".join(f"{k}={v!r}" for k, v in opts.items())
    return new, f"{where} gets {text}"


_INITS = ("glorot_normal", "random_normal_initializer(mean=0.0, stddev=0.01)",
          "variance_scaling_initializer(mode='fan_in', distribution='uniform', scale=0.78)", "zeros")


def _init_opts(desc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    cls = desc.get("class")
    pool: list[str] = ["trainable"]
    if cls in ("linear", "softmax"):
        pool += ["fwd", "fwd"]
        if desc.get("with_bias", True) is not False:
            pool += ["bias", "nobias"]
    elif cls == "rnn_cell":
        pool += ["weights", "weights"]
    elif cls == "rec" and isinstance(desc.get("unit"), str):
        pool += ["fwd", "rec", "bias"]
    opts: dict[str, Any] = {}
    picks = rng.sample(pool, min(len(pool), rng.choice([1, 2])))
    for kind in picks:
        if kind == "trainable":
            opts["trainable"] = False
        elif kind == "fwd":
            opts["forward_weights_init"] = rng.choice(_INITS)
        elif kind == "rec":
            opts["recurrent_weights_init"] = rng.choice(_INITS[:3])
        elif kind == "bias":
            opts["bias_init"] = rng.choice([0.1, -1.0, 1.0])
        elif kind == "nobias":
            opts["with_bias"] = False
        else:
            opts["weights_init"] = rng.choice(["xavier", "glorot_normal",
                                               "random_normal_initializer(mean=0.0, stddev=0.05)"])
    if "with_bias" in opts:
        opts.pop("bias_init", None)
    return opts


def op_init_freeze(case: Case, rng: random.Random) -> Result:
    """Initialisation / freezing options on a layer with parameters of (or feeding) a decoder."""
    new, net = _copy(case)
    groups: dict[str, list[tuple[str, str]]] = {"loop": [], "root": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        groups["loop"] += [(rec, k) for k in _loop_param_layers(unit)]
        groups["root"] += [(rec, f"base:{k}") for k in _encoder_layers(case, net, rec, ("linear", "rec"))]
    recs = _searching_recs(net)
    if not recs:
        return None
    picked = _pick(groups, rng)
    if picked is None or rng.random() < 0.15:
        rec = rng.choice(recs)
        net[rec]["trainable"] = False
        return new, f"{rec} (the searching rec layer) gets trainable=False"
    rec, name = picked[1]
    unit = net[rec]["unit"]
    if name.startswith("base:"):
        desc, where = net[name[len("base:"):]], f"root layer {name[len('base:'):]} (read by {rec})"
    else:
        desc, where = unit[name], f"{rec}/{name}"
    opts = _init_opts(desc, rng)
    desc.update(opts)
    text = ", ".join(f"{k}={v!r}" for k, v in opts.items())
    return new, f"{where} gets {text}"


def _norm_desc(src: str, rng: random.Random, *, in_loop: bool, over_time: bool) -> tuple[dict[str, Any], str]:
    kinds = ["layer_norm", "norm_f", "batch_norm"]
    if over_time:
        kinds.append("norm_t")
    kind = rng.choice(kinds)
    if kind == "layer_norm":
        desc: dict[str, Any] = {"class": "layer_norm", "from": src}
        if rng.random() < 0.3:
            desc["epsilon"] = 1e-5
        return desc, "layer_norm"
    if kind == "norm_f":
        desc = {"class": "norm", "from": src, "axes": "F"}
        if rng.random() < 0.3:
            desc["scale"] = False
            desc["bias"] = False
        return desc, "norm over F"
    if kind == "norm_t":
        return {"class": "norm", "from": src, "axes": "T"}, "norm over T"
    desc = {"class": "batch_norm", "from": src}
    if in_loop or rng.random() < 0.5:
        desc["masked_time"] = False if in_loop else rng.choice([True, False])
    if rng.random() < 0.5:
        desc["momentum"] = rng.choice([0.1, 0.01])
    if rng.random() < 0.3:
        desc["epsilon"] = 1e-5
    extra = ", ".join(f"{k}={v!r}" for k, v in desc.items() if k not in ("class", "from"))
    return desc, f"batch_norm ({extra})" if extra else "batch_norm"


def op_norm_around_decoder(case: Case, rng: random.Random) -> Result:
    """A normalisation layer on an edge around a searching decoder (encoder side, decoder output, a loop
    layer read from the root, or the previous frame of a loop layer)."""
    new, net = _copy(case)
    groups: dict[str, list[tuple[str, str, str]]] = {"enc": [], "out": [], "prev": [], "root": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        groups["enc"] += [("enc", rec, k) for k in _direct_encoder(case, net, rec)]
        out = unit.get("output")
        if isinstance(out, dict) and (out.get("class") in _OUT_DENSE or out.get("class") == "choice"
                                      and out.get("input_type") == "regression"):
            groups["out"].append(("out", rec, "output"))
        for k in _layers(unit):
            if unit[k].get("class") not in _DENSE or k == "end" or unit[k].get("target"):
                continue
            if unit[k].get("class") == "rec" and not isinstance(unit[k].get("unit"), str):
                continue
            if _readers(unit, k, f"prev:{k}"):
                groups["prev"].append(("prev", rec, k))
            if unit[k].get("class") in ("linear", "rnn_cell", "activation", "combine") and k != "output":
                groups["root"].append(("root", rec, k))
    picked = _pick(groups, rng)
    if picked is None:
        return None
    kind, rec, name = picked[1]
    unit = net[rec]["unit"]
    if kind == "enc":
        desc, what = _norm_desc(name, rng, in_loop=False,
                                over_time=net[name].get("class") not in ("merge_dims",))
        norm = _fresh(net, f"{name}_norm")
        net[norm] = desc
        users = []
        for k in _layers(unit):
            before = repr(unit[k])
            _redirect(unit, [k], f"base:{name}", f"base:{norm}")
            if repr(unit[k]) != before:
                users.append(f"{rec}/{k}")
        if name in _sources(net[rec]):
            _redirect(net, [rec], name, norm)
            users.append(f"{rec} (from)")
        return new, f"{', '.join(users)} read {norm}, a {what} of root layer {name}, instead of it"
    if kind == "out":
        readers = _readers(net, rec)
        desc, what = _norm_desc(rec, rng, in_loop=False, over_time=True)
        norm = _fresh(net, f"{rec}_norm")
        net[norm] = desc
        if readers:
            _redirect(net, readers, rec, norm)
            return new, f"root {', '.join(readers)} read {norm}, a {what} of the searching decoder {rec}"
        desc["is_output_layer"] = True
        return new, f"new root output layer {norm}: a {what} of the searching decoder {rec}"
    if kind == "root":
        marked = rng.random() < 0.5
        if marked:
            unit[name]["is_output_layer"] = True
        desc, what = _norm_desc(f"{rec}/{name}", rng, in_loop=False, over_time=True)
        desc["is_output_layer"] = True
        norm = _fresh(net, f"{rec}_{name}_norm")
        net[norm] = desc
        how = "marked is_output_layer" if marked else "not marked is_output_layer"
        return new, f"new root output layer {norm}: a {what} of {rec}/{name} ({how})"
    readers = _readers(unit, name, f"prev:{name}")
    desc, what = _norm_desc(name, rng, in_loop=True, over_time=False)
    norm = _fresh(unit, f"{name}_norm")
    if "initial_output" in unit[name]:
        desc["initial_output"] = unit[name]["initial_output"]
    unit[norm] = desc
    _redirect(unit, readers, f"prev:{name}", f"prev:{norm}")
    return new, (f"{rec}: {', '.join(readers)} read prev:{norm} ({what} of {rec}/{name}) "
                 f"instead of prev:{name}")


def _bn_value(rng: random.Random, *, in_loop: bool) -> Any:
    if rng.random() < 0.3 and not in_loop:
        return True
    opts: dict[str, Any] = {}
    if in_loop or rng.random() < 0.6:
        opts["masked_time"] = False if in_loop else rng.choice([True, False])
    extra = rng.sample(["momentum", "epsilon", "use_sample", "force_sample", "update_sample_only_in_training",
                        "param_version"], rng.choice([0, 1, 2]))
    for key in sorted(extra):
        if key == "momentum":
            opts[key] = rng.choice([0.1, 0.01, 0.99])
        elif key == "epsilon":
            opts[key] = rng.choice([1e-5, 0.001])
        elif key == "use_sample":
            opts[key] = rng.choice([0.5, 1.0])
        elif key in ("force_sample", "update_sample_only_in_training"):
            opts[key] = True
        else:
            opts[key] = rng.choice([1, 2])
    return opts or True


def op_batch_norm_opt(case: Case, rng: random.Random) -> Result:
    """The ``batch_norm`` layer option on a dense loop layer of a decoder or an encoder layer it reads."""
    new, net = _copy(case)
    groups: dict[str, list[tuple[str, str]]] = {"loop": [], "root": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            desc = unit[k]
            cls = desc.get("class")
            if k == "end" or cls not in _DENSE or "batch_norm" in desc:
                continue
            if cls == "rec" and not isinstance(desc.get("unit"), str):
                continue
            if desc.get("target") and cls != "softmax":
                continue
            groups["loop"].append((rec, k))
        enc = _encoder_layers(case, net, rec, ("linear", "rec", "conv"))
        groups["root"] += [(rec, f"base:{k}") for k in enc if "batch_norm" not in net[k]]
    picked = _pick(groups, rng)
    if picked is None:
        return None
    rec, name = picked[1]
    if name.startswith("base:"):
        root = name[len("base:"):]
        value = _bn_value(rng, in_loop=False)
        net[root]["batch_norm"] = value
        return new, f"root layer {root} (read by {rec}) gets batch_norm={value!r}"
    value = _bn_value(rng, in_loop=True)
    net[rec]["unit"][name]["batch_norm"] = value
    return new, f"{rec}/{name} gets batch_norm={value!r}"


def op_target_embed_tie(case: Case, rng: random.Random) -> Result:
    """The loop's label embedding tied to a new root embedding of the target data."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            key = unit[c]["target"]
            if key not in _sparse_keys(case) or not _target_dim(case, key):
                continue
            for k in _layers(unit):
                desc = unit[k]
                if desc.get("class") != "linear" or _n_out(desc) is None or "reuse_params" in desc:
                    continue
                srcs = _sources(desc)
                if srcs and all(s in (c, f"prev:{c}") for s in srcs):
                    sites.append((rec, c, k, key))
    if not sites:
        return None
    rec, choice, emb, key = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[emb]
    with_bias = desc.get("with_bias", True) is not False
    root = _fresh(net, f"{key}_{emb}_lm")
    net[root] = {"class": "linear", "activation": desc.get("activation"), "with_bias": with_bias,
                 "n_out": desc["n_out"], "from": f"data:{key}"}
    form = rng.choice(["str", "reuse_layer", "map"])
    if rng.random() < 0.5 or ":" in rec:
        ref = f"base:{root}"
        side = f"{rec}/{emb} takes the parameters of new root layer {root}"
        target = unit[emb]
    else:
        ref = f"{rec}/{emb}"
        side = f"new root output layer {root} takes the parameters of {rec}/{emb}"
        target = net[root]
        net[root]["is_output_layer"] = True
    if form == "str":
        target["reuse_params"] = ref
    elif form == "reuse_layer":
        target["reuse_params"] = {"reuse_layer": ref}
    else:
        mapping = {"W": ref}
        if with_bias:
            mapping["b"] = ref
        target["reuse_params"] = {"map": mapping}
    return new, (f"{side} (reuse_params as {form}); {root} embeds data:{key} like {rec}/{emb} "
                 f"embeds {rec}/{choice}")


FRESH42_OPERATORS: tuple[Op, ...] = (
    Op("param-regularisers", op_param_regularisers, 1),
    Op("init-freeze", op_init_freeze, 1),
    Op("norm-around-decoder", op_norm_around_decoder, 1),
    Op("batch-norm-opt", op_batch_norm_opt, 1),
    Op("target-embed-tie", op_target_embed_tie, 1),
)
