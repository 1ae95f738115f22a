"""A forty-first set of edit operators (issue 15, tenth session), written and seeded before it was ever run,
by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Training-time leftovers kept in a config that is then used for search: loss options, auxiliary losses,
training-only extern data and dropout that a user forgets to take out (none a variant of an earlier
operator; no rule was written for any of them):

* ``decoder-loss-opts``: the layer a decoder's choice scores on (or a loop layer that already has a
  loss) gets training loss options: ``loss: "ce"`` with the choice's target when it had no loss, then
  one or two of ``loss_opts`` label smoothing, ``loss_opts`` focal loss factor, ``loss_scale`` and
  ``loss_only_on_non_search``;
* ``encoder-frame-loss``: a framewise loss on a root encoder layer a searching decoder reads: a
  ``softmax`` with ``loss: "ce"`` on a sparse data key (the decoder's target or the sparse input), or a
  ``linear`` reconstruction of the dense input with ``loss: "mse"`` on ``data``, maybe scaled or with
  ``loss_only_on_non_search``; a root ``linear`` the decoder reads from that encoder layer may also read
  the new layer (posteriors as features);
* ``registered-train-target``: a root layer over the target data (``copy`` or ``postfix_in_time`` of
  ``data:KEY``) registers a new extern-data key (``register_as_extern_data``), maybe marked
  ``only_on_eval`` as it is only needed in training, and the non-choice loop layers that had the
  choice's target (or the choice's score layer, with a ``ce`` loss) take that key as ``target``; the rec
  layer's own target may follow;
* ``train-loss-readout``: a root ``softmax`` with a ``ce`` loss on the choice's target reads a dense
  loop layer of a searching decoder from outside the loop (``REC/LAYER``, the inner layer maybe marked
  ``is_output_layer``), as a training-only auxiliary loss: marked ``only_on_eval``, with
  ``loss_only_on_non_search``, a ``loss_scale``, or nothing;
* ``forward-dropout``: a loop layer of a searching decoder (``linear``, ``softmax``, ``rnn_cell``,
  ``rec``, ``copy``, ``activation``) gets the layer option ``dropout``, maybe with a
  ``dropout_noise_shape`` (``{"*": None}``, broadcast over batch, feature or time) and maybe
  ``dropout_on_forward: True`` (dropout kept in search).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _data_keys,
    _encoder_sites,
    _fresh,
    _layers,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH39_SEED = 20270101
N_FRESH39 = 80

Result = "tuple[Case, str] | None"

#: layer classes a user puts a loss on for the choice's scores
_SCORE = ("softmax", "linear", "eval", "activation", "combine")
#: root encoder layer classes with a time axis and float features
_ENCODER = ("linear", "rec", "copy", "conv", "layer_norm", "combine", "self_attention", "dropout",
            "batch_norm", "activation", "eval", "concat", "pool", "subnetwork")
#: dense loop layers worth an auxiliary loss from outside
_DENSE = ("linear", "rnn_cell", "rec", "softmax", "combine", "activation", "eval", "copy", "concat")
#: loop layer classes that take the ``dropout`` option (``_ConcatInputLayer``)
_DROPOUT = ("linear", "softmax", "rnn_cell", "rec", "copy", "activation")


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a data key."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str) and not unit[c]["target"].startswith("layer:")]


def _score_layer(unit: dict[str, Any], choice: str) -> str | None:
    srcs = _sources(unit[choice])
    if len(srcs) == 1 and srcs[0] in unit and unit[srcs[0]].get("class") in _SCORE:
        return srcs[0]
    return None


def op_decoder_loss_opts(case: Case, rng: random.Random) -> Result:
    """Training loss options on a decoder's score layer (or a loop layer with a loss)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        cands: dict[str, str | None] = {}
        for c in _label_choices(unit):
            score = _score_layer(unit, c)
            if score is not None:
                cands[score] = unit[c]["target"]
        for k in _layers(unit):
            if unit[k].get("loss") and unit[k].get("class") != "choice" and k not in cands:
                cands[k] = None
        sites += [(rec, k, t) for k, t in sorted(cands.items())]
    if not sites:
        return None
    rec, name, target = rng.choice(sites)
    desc = net[rec]["unit"][name]
    done = []
    if not desc.get("loss"):
        desc["loss"] = "ce"
        if not desc.get("target"):
            desc["target"] = target
        done.append(f"loss ce on {desc['target']}")
    opts = dict(desc.get("loss_opts") or {})
    kinds = ["scale", "non-search"] + (["smoothing", "smoothing", "focal"] if desc["loss"] == "ce" else [])
    for kind in rng.sample(kinds, rng.choice([1, 1, 2])):
        if kind == "smoothing":
            opts["label_smoothing"] = rng.choice([0.1, 0.2])
            done.append(f"label_smoothing {opts['label_smoothing']}")
        elif kind == "focal":
            opts["focal_loss_factor"] = rng.choice([1.0, 2.0])
            done.append(f"focal_loss_factor {opts['focal_loss_factor']}")
        elif kind == "scale" and "scale" not in opts:
            desc["loss_scale"] = rng.choice([0.5, 0.3, 2.0])
            done.append(f"loss_scale {desc['loss_scale']}")
        elif kind == "non-search":
            desc["loss_only_on_non_search"] = True
            done.append("loss_only_on_non_search")
    if opts:
        desc["loss_opts"] = opts
    if not done:
        return None
    return new, f"{rec}/{name}: {', '.join(done)}"


def op_encoder_frame_loss(case: Case, rng: random.Random) -> Result:
    """A framewise loss on a root encoder layer a searching decoder reads, maybe fed on as features."""
    new, net = _copy(case)
    beamed = _beamed_roots(net)
    sites = []
    for rec in _searching_recs(net):
        for enc in _encoder_sites(net, rec, ()):
            desc = net[enc]
            if desc.get("class") not in _ENCODER or enc in beamed or desc.get("loss"):
                continue
            if desc.get("class") == "rec" and isinstance(desc.get("unit"), dict):
                continue
            sites.append((rec, enc))
    if not sites:
        return None
    rec, enc = rng.choice(sites)
    targets = []
    for c in _label_choices(net[rec]["unit"]):
        targets.append(("ce", net[rec]["unit"][c]["target"]))
    if "data" in _sparse_keys(case):
        targets.append(("ce", "data"))
    elif "data" in _data_keys(case) and _target_dim(case, "data"):
        targets.append(("mse", "data"))
    targets = sorted(set(targets))
    if not targets:
        return None
    loss, key = rng.choice(targets)
    name = _fresh(net, f"{enc}_frame_{'prob' if loss == 'ce' else 'recon'}")
    if loss == "ce":
        net[name] = {"class": "softmax", "from": enc, "target": key, "loss": "ce"}
    else:
        net[name] = {"class": "linear", "activation": None, "from": enc, "n_out": _target_dim(case, key),
                     "target": key, "loss": "mse"}
    extra = rng.choice([None, None, "scale", "non-search", "smoothing"])
    if extra == "scale":
        net[name]["loss_scale"] = rng.choice([0.5, 0.3])
    elif extra == "non-search":
        net[name]["loss_only_on_non_search"] = True
    elif extra == "smoothing" and loss == "ce":
        net[name]["loss_opts"] = {"label_smoothing": 0.1}
    what = f"add {name}: framewise {loss} loss on {key} over {enc}" + (f" ({extra})" if extra else "")
    feeds = [k for k in sorted(_encoder_sites(net, rec, ())) if k != name
             and net[k].get("class") == "linear" and enc in _sources(net[k])]
    if feeds and rng.random() < 0.5:
        feed = rng.choice(feeds)
        _add_source(net[feed], name)
        what += f"; {feed} also reads {name}"
    return new, what


def op_registered_train_target(case: Case, rng: random.Random) -> Result:
    """Loop layers take their target from a key a root layer registers (maybe only in training)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            key = unit[c]["target"]
            if key not in _data_keys(case):
                continue
            users = [k for k in _layers(unit) if k != c and unit[k].get("class") != "choice"
                     and unit[k].get("target") == key]
            score = _score_layer(unit, c)
            if users or score is not None:
                sites.append((rec, key, users, score))
    if not sites:
        return None
    rec, key, users, score = rng.choice(sites)
    unit = net[rec]["unit"]
    ext_key = _fresh(_data_keys(case), f"{key}_train")
    layer = _fresh(net, f"{key}_train_target")
    cls = rng.choice(["copy", "postfix_in_time"])
    net[layer] = {"class": cls, "from": f"data:{key}", "register_as_extern_data": ext_key}
    if cls == "postfix_in_time":
        net[layer]["postfix"] = 0
    flag = rng.random() < 0.5
    if flag:
        net[layer]["only_on_eval"] = True
    if users:
        chosen = users if rng.random() < 0.5 else [rng.choice(users)]
    else:
        chosen = [score]
        if not unit[score].get("loss"):
            unit[score]["loss"] = "ce"
    for k in chosen:
        unit[k]["target"] = ext_key
    what = (f"add {layer}: {cls} of data:{key} registered as extern data {ext_key}"
            f"{' (only_on_eval)' if flag else ''}; {', '.join(f'{rec}/{k}' for k in chosen)} target {ext_key}")
    if net[rec].get("target") == key and rng.random() < 0.3:
        net[rec]["target"] = ext_key
        what += f"; {rec} target {ext_key}"
    return new, what


def op_train_loss_readout(case: Case, rng: random.Random) -> Result:
    """A training-only auxiliary ce loss at the root reading a dense loop layer's frames."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            sites += [(rec, c, k) for k in _layers(unit) if k not in ("end", c)
                      and unit[k].get("class") in _DENSE and not unit[k].get("target")]
    if not sites:
        return None
    rec, choice, inner = rng.choice(sites)
    unit = net[rec]["unit"]
    key = unit[choice]["target"]
    name = _fresh(net, f"{rec}_{inner}_aux_ce".replace("/", "_"))
    net[name] = {"class": "softmax", "from": f"{rec}/{inner}", "target": key, "loss": "ce"}
    flag = rng.choice(["only_on_eval", "only_on_eval", "loss_only_on_non_search", "loss_scale", None])
    if flag == "loss_scale":
        net[name]["loss_scale"] = rng.choice([0.5, 0.2])
    elif flag is not None:
        net[name][flag] = True
    marked = rng.random() < 0.5 and not unit[inner].get("is_output_layer")
    if marked:
        unit[inner]["is_output_layer"] = True
    return new, (f"add {name}: ce softmax on {key} over {rec}/{inner} at the root"
                 f"{f' ({flag})' if flag else ''}{f'; {rec}/{inner} is_output_layer' if marked else ''}")


def op_forward_dropout(case: Case, rng: random.Random) -> Result:
    """The layer option ``dropout`` on a decoder loop layer, maybe with a noise shape and kept in search."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        labels = set(_unit_choices(unit)) | {f"prev:{c}" for c in _unit_choices(unit)}
        sites += [(rec, k) for k in _layers(unit) if k != "end" and unit[k].get("class") in _DROPOUT
                  and not unit[k].get("dropout") and _sources(unit[k])
                  and not any(s in labels or s.startswith(("data", "base:data"))
                              for s in _sources(unit[k]))]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = net[rec]["unit"][name]
    desc["dropout"] = rng.choice([0.1, 0.2, 0.3])
    what = [f"dropout {desc['dropout']}"]
    shape = rng.choice([None, {"*": None}, {"B": 1}, {"F": 1}, {"T": 1}])
    if shape is not None:
        desc["dropout_noise_shape"] = shape
        what.append(f"dropout_noise_shape {shape}")
    if rng.random() < 0.5:
        desc["dropout_on_forward"] = True
        what.append("dropout_on_forward")
    return new, f"{rec}/{name}: {', '.join(what)}"


FRESH39_OPERATORS: tuple[Op, ...] = (
    Op("decoder-loss-opts", op_decoder_loss_opts, 1),
    Op("encoder-frame-loss", op_encoder_frame_loss, 1),
    Op("registered-train-target", op_registered_train_target, 1),
    Op("train-loss-readout", op_train_loss_readout, 1),
    Op("forward-dropout", op_forward_dropout, 1),
)
