"""A twenty-eighth set of edit operators (issue 15, eighth session), written and seeded before it was ever
run, after fresh24 and fresh25 were opened: held out, looked at as counts only when first measured.

How the decoder's loop meets the rest of the network at the root and across nets, as users change it when
they add rescoring, n-best output, auxiliary heads or pretraining-style wrappers (none a variant of an
earlier one; no rule was written for any of them):

* ``nbest-length-reward``: a root output layer rescores a searching decoder's n-best list: the beam
  scores of the decoder (``choice_get_beam_scores``) plus a length reward (its ``length``, ``cast`` to
  float, scaled in an ``eval``), either of them maybe taken from a ``decide_keep_beam`` of the decoder;
* ``train-flag-cond``: a root ``cond`` on the train flag (``{"class": "train_flag"}``) chooses between
  a copy of the decoder (in training) and its decision or a ``decide_keep_beam`` of it, or between the
  target (teacher forcing in training) and a copy of the decoder; the decoder's root readers read the ``cond``, else it is an output layer;
* ``extra-net-source``: a decoder loop reads a search-only variant of a root layer it reads
  (``base:extra.search:X``, a copy of ``X``'s layer dict without loss or dropout, or a ``copy`` of
  ``X``, defined in the ``extra.search`` net);
* ``root-target-layer``: a searching decoder takes its target from a root layer over the data key
  (``copy`` of ``data:KEY``, or with an end label appended by ``postfix_in_time``): the rec layer gets
  ``target: "layer:T"``, its loop layers with that target ``target: "layer:base:T"``;
* ``encoder-block-path``: a root layer a decoder loop reads moves into a root ``subnetwork`` (an
  encoder block, its input given as the subnetwork's ``from`` or read through ``base:``) next to an
  ``output`` copy of it, and every reader reads it by its path (``BLOCK/X``, ``base:BLOCK/X`` in the loop).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from .mutations import (
    REF_KEYS,
    Case,
    Op,
    _copy,
    _data_keys,
    _fresh,
    _interpose,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _refs,
    _searching_recs,
    _sources,
    _sparse_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH26_SEED = 20261219
N_FRESH26 = 80

Result = "tuple[Case, str] | None"

#: Options of a layer dict that only concern training (left out of a search-only variant).
TRAIN_ONLY = ("loss", "loss_opts", "loss_scale", "is_output_layer", "dropout")
#: Layer classes an operator does not move or copy (nested nets, search layers, data).
NESTED = ("rec", "subnetwork", "masked_computation", "cond", "choice", "decide", "decide_keep_beam", "data")


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers of the main net (not of an ``extra...:`` net)."""
    return [r for r in _searching_recs(net) if ":" not in r]


def _stem(name: str) -> str:
    return name.split(":")[-1].replace("/", "_")


def _nested_layers(desc: dict[str, Any]) -> list[dict[str, Any]]:
    """The layer dicts one scope down from ``desc``: a rec's dict unit, a ``subnetwork``, a
    ``masked_computation``'s unit."""
    out = []
    unit = desc.get("unit")
    if isinstance(unit, dict):
        out.append(unit if desc.get("class") == "rec" else {"<unit>": unit})
    if isinstance(desc.get("subnetwork"), dict):
        out.append(desc["subnetwork"])
    return out


def _map_scoped(layers: dict[str, Any], depth: int, fn: Any) -> None:
    """Map every reference at every depth below ``layers`` by ``fn(ref, depth)``."""
    for k in _layers(layers):
        desc = layers[k]
        _map_refs(desc, lambda r, d=depth: fn(r, d))
        for inner in _nested_layers(desc):
            _map_scoped(inner, depth + 1, fn)


def _all_strings(value: Any, out: list[str]) -> list[str]:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _all_strings(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _all_strings(v, out)
    return out


def op_nbest_length_reward(case: Case, rng: random.Random) -> Result:
    """A root output layer: a decoder's beam scores plus a length reward."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    stem = _stem(rec)
    src_scores, src_len = rec, rec
    keep_scores, keep_len = rng.random() < 0.5, rng.random() < 0.5
    if keep_scores or keep_len:
        keep = _fresh(net, f"{stem}_nbest")
        net[keep] = {"class": "decide_keep_beam", "from": rec}
        src_scores = keep if keep_scores else rec
        src_len = keep if keep_len else rec
    scores, length = _fresh(net, f"{stem}_beam_scores"), _fresh(net, f"{stem}_len")
    net[scores] = {"class": "choice_get_beam_scores", "from": src_scores}
    net[length] = {"class": "length", "from": src_len}
    length_f = _fresh(net, f"{stem}_len_float")
    net[length_f] = {"class": "cast", "from": length, "dtype": "float32"}
    scale = rng.choice([0.1, 0.2, 0.5, 1.0])
    total = _fresh(net, f"{stem}_rescored")
    net[total] = {"class": "eval", "from": [scores, length_f], "eval": f"source(0) + {scale} * source(1)",
                  "is_output_layer": True}
    return new, (f"output {total}: beam scores of {src_scores} ({scores}) plus {scale} times the length of "
                 f"{src_len} ({length})")


def op_train_flag_cond(case: Case, rng: random.Random) -> Result:
    """A root ``cond`` on the train flag between the decoder and a copy, its decision or the target."""
    new, net = _copy(case)
    decs = _decoders(net)
    if not decs:
        return None
    rec = rng.choice(decs)
    target = net[rec].get("target")
    kinds = ["decide", "keep"]
    if isinstance(target, str) and not target.startswith("layer:") and target in _data_keys(case):
        kinds.append("target")
    kind = rng.choice(kinds)
    if kind == "decide":
        branches = ({"class": "copy", "from": rec}, {"class": "decide", "from": rec})
        what = f"{rec} in training, its decision otherwise"
    elif kind == "keep":
        branches = ({"class": "copy", "from": rec}, {"class": "decide_keep_beam", "from": rec})
        what = f"{rec} in training, its n-best kept (decide_keep_beam) otherwise"
    else:
        branches = ({"class": "copy", "from": f"data:{target}"}, {"class": "copy", "from": rec})
        what = f"data:{target} in training, {rec} otherwise"
    desc: dict[str, Any] = {"class": "cond", "from": [], "condition": {"class": "train_flag"},
                            "true_layer": branches[0], "false_layer": branches[1]}
    readers = [k for k in _readers(net, rec) if ":" not in k]
    name = f"{_stem(rec)}_train_cond"
    if readers:
        cond = _interpose(net, readers, rec, name, desc)
        return new, f"{', '.join(readers)} read {cond}: a cond on the train flag, {what}"
    cond = _fresh(net, name)
    net[cond] = {**desc, "is_output_layer": True}
    return new, f"output {cond}: a cond on the train flag, {what}"


def op_extra_net_source(case: Case, rng: random.Random) -> Result:
    """A decoder loop reads a search-only variant of a root layer (``base:extra.search:X``)."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        reads = {r[len("base:"):] for k in _layers(unit) for r in _refs(unit[k]) if r.startswith("base:")}
        sites += [(rec, x) for x in sorted(reads)
                  if x in net and ":" not in x and "/" not in x and net[x].get("class") not in NESTED
                  and f"extra.search:{x}" not in net]
    if not sites:
        return None
    rec, x = rng.choice(sites)
    extra = f"extra.search:{x}"
    if rng.random() < 0.6:
        net[extra] = {k: copy.deepcopy(v) for k, v in net[x].items() if k not in TRAIN_ONLY}
        if "target" in net[extra] and "loss" in net[x]:
            del net[extra]["target"]
        what = f"a copy of {x}'s layer without loss or dropout"
    else:
        net[extra] = {"class": "copy", "from": x}
        what = f"a copy of {x}"
    unit = net[rec]["unit"]
    users = [k for k in _layers(unit) if f"base:{x}" in _refs(unit[k])]
    for k in users:
        _map_refs(unit[k], lambda r: f"base:{extra}" if r == f"base:{x}" else r)
    return new, f"{rec}/{', '.join(users)} read base:{extra} ({what}, in the extra.search net)"


def op_root_target_layer(case: Case, rng: random.Random) -> Result:
    """A decoder takes its target from a root layer over the data key (``layer:T``)."""
    new, net = _copy(case)
    keys = set(_data_keys(case))
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            target = unit[c].get("target")
            targets = target if isinstance(target, list) else [target]
            sites += [(rec, t) for t in targets if isinstance(t, str) and t in keys]
    if not sites:
        return None
    rec, key = rng.choice(sorted(set(sites)))
    name = _fresh(net, f"{key}_target")
    if key in _sparse_keys(case) and rng.random() < 0.5:
        net[name] = {"class": "postfix_in_time", "from": f"data:{key}", "postfix": 0}
        what = f"data:{key} with label 0 appended"
    else:
        net[name] = {"class": "copy", "from": f"data:{key}"}
        what = f"a copy of data:{key}"

    def retarget(desc: dict[str, Any], to: str) -> bool:
        target = desc.get("target")
        if target == key:
            desc["target"] = to
            return True
        if isinstance(target, list) and key in target:
            desc["target"] = [to if t == key else t for t in target]
            return True
        return False

    touched = [rec] if retarget(net[rec], f"layer:{name}") else []
    unit = net[rec]["unit"]
    touched += [f"{rec}/{k}" for k in _layers(unit) if retarget(unit[k], f"layer:base:{name}")]
    return new, f"{', '.join(touched)} take target from {name} ({what})"


def op_encoder_block_path(case: Case, rng: random.Random) -> Result:
    """A root layer a loop reads moves into a root ``subnetwork``; its readers read it by path."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        reads = {r[len("base:"):] for k in _layers(unit) for r in _refs(unit[k]) if r.startswith("base:")}
        sites += [x for x in sorted(reads)
                  if x in net and ":" not in x and "/" not in x and net[x].get("class") not in NESTED
                  and not net[x].get("loss") and "reuse_params" not in net[x] and "initial_state" not in net[x]]
    if not sites:
        return None
    x = rng.choice(sorted(set(sites)))
    block = _fresh(net, f"{x}_block")
    inner = {k: v for k, v in net.pop(x).items() if k != "is_output_layer"}
    only_from = all(k == "from" for k in REF_KEYS if k in inner) and _sources(inner)
    outer: dict[str, Any] = {"class": "subnetwork", "from": []}
    if only_from and rng.random() < 0.5:
        outer["from"] = inner["from"]
        inner["from"] = "data"
        how = "its input as the block's from"
    else:
        _map_refs(inner, lambda r: f"base:{r}")
        how = "its input through base:"
    outer["subnetwork"] = {x: inner, "output": {"class": "copy", "from": x}}
    net[block] = outer

    def move(ref: str, depth: int) -> str:
        prefix = "base:" * depth
        if ref == prefix + x or ref.startswith(f"{prefix}{x}/"):
            return f"{prefix}{block}/{x}{ref[len(prefix + x):]}"
        return ref

    others = {k: net[k] for k in _layers(net) if k != block}
    _map_scoped(others, 0, move)
    for s in _all_strings({k: v for k, v in net.items() if k != block}, []):
        tail = s.split(":")[-1]
        if tail == x or tail.startswith(f"{x}/") or f"'{x}'" in s or f"'base:{x}'" in s:
            return None
    readers = [k for k in _layers(net) if any(r.split(":")[-1].startswith(f"{block}/") for r in _refs(net[k]))]
    readers += [f"{r}/{k}" for r in _recs(net) for k in _layers(net[r]["unit"])
                if any(r2.startswith(f"base:{block}/") for r2 in _refs(net[r]["unit"][k]))]
    return new, f"{x} moves into subnetwork {block} ({how}); {', '.join(readers)} read {block}/{x}"


FRESH26_OPERATORS: tuple[Op, ...] = (
    Op("nbest-length-reward", op_nbest_length_reward, 1),
    Op("train-flag-cond", op_train_flag_cond, 1),
    Op("extra-net-source", op_extra_net_source, 1),
    Op("root-target-layer", op_root_target_layer, 1),
    Op("encoder-block-path", op_encoder_block_path, 1),
)
