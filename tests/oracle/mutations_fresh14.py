"""A sixteenth set of edit operators (issue 15, sixth session), written and seeded before it was ever run:
held out, looked at as counts only when first measured.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``sub-inner-ref``: a loop layer moves into a two-layer ``subnetwork`` of the unit (``inner`` and a
  copy of it as ``output``), and one of its readers reads the inner layer by path (``L/inner``), or
  its previous frame (``prev:L/inner``);
* ``inner-loop``: a loop layer also reads the mean over a rec layer nested in the unit that iterates
  over an encoder layer (``data:source`` each inner step), maybe also reading a layer of the outer
  frame (``base:X``);
* ``self-att-state``: the readers of a loop layer read a left-only ``self_attention`` over it (its
  keys and values are state kept over the loop's frames);
* ``choice-over-decoder``: a root ``choice`` (an output layer) over a softmax of the mean of a
  decoder loop layer over the output frames: a beam that depends on the decoder's beam.
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
    _head,
    _layers,
    _map_refs,
    _readers,
    _recs,
    _redirect,
    _searching_recs,
    _sources,
    _sparse_keys,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH14_SEED = 20261207
N_FRESH14 = 80

Result = "tuple[Case, str] | None"


def _unit_layers(unit: dict[str, Any]) -> list[str]:
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") not in ("choice", "rec", "subnetwork")]


def _based(desc: dict[str, Any], scope: set[str]) -> dict[str, Any]:
    """``desc`` as seen from a network nested in ``scope``: its references get a ``base:`` prefix."""
    out = {k: v for k, v in desc.items() if k not in ("is_output_layer", "loss", "loss_opts", "target")}

    def fn(ref: str) -> str:
        if ref.startswith(("base:", "prev:", "data:")) or ref == "data" or _head(ref) in scope:
            return "base:" + ref
        return ref

    _map_refs(out, fn)
    return out


def op_sub_inner_ref(case: Case, rng: random.Random) -> Result:
    """A loop layer in a two-layer subnetwork; a reader reads its inner layer by path."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _unit_layers(net[r]["unit"])
             if _readers(net[r]["unit"], k) or _readers(net[r]["unit"], k, f"prev:{k}")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[name]
    cur, prev = _readers(unit, name), _readers(unit, name, f"prev:{name}")
    outer: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": {
        "inner": _based(desc, set(_layers(unit))), "output": {"class": "copy", "from": "inner"}}}
    for key in ("is_output_layer", "target"):
        if key in desc:
            outer[key] = desc[key]
    unit[name] = outer
    if prev and (not cur or rng.random() < 0.5):
        reader = rng.choice(prev)
        _redirect(unit, [reader], f"prev:{name}", f"prev:{name}/inner")
        return new, f"{rec}/{name} in a subnetwork; {reader} reads prev:{name}/inner"
    reader = rng.choice(cur)
    _redirect(unit, [reader], name, f"{name}/inner")
    return new, f"{rec}/{name} in a subnetwork; {reader} reads {name}/inner"


def _base_roots(unit: dict[str, Any], net: dict[str, Any]) -> list[str]:
    """Root layers (not data) the unit reads by ``base:``."""
    out: set[str] = set()
    for desc in unit.values():
        if not isinstance(desc, dict):
            continue
        seen: list[str] = []
        _map_refs(dict(desc), lambda r, seen=seen: seen.append(r) or r)
        for ref in seen:
            if ref.startswith("base:") and not ref.startswith("base:data"):
                head = ref[len("base:"):].split("/", 1)[0]
                if head in net and net[head].get("class") not in ("rec", "choice", "decide"):
                    out.add(head)
    return sorted(out)


def op_inner_loop(case: Case, rng: random.Random) -> Result:
    """A loop layer also reads the mean of a rec nested in the unit that runs over an encoder layer."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        encs = _base_roots(unit, net)
        layers = [k for k in _unit_layers(unit) if unit[k].get("class") == "linear" and _sources(unit[k])]
        sites += [(rec, enc, k) for enc in encs for k in layers]
    if not sites:
        return None
    rec, enc, name = rng.choice(sites)
    unit = net[rec]["unit"]
    srcs: list[str] = ["data:source", "prev:h"]
    outer = sorted(_frame_ancestors(unit, name) - {"end"})
    what = ""
    if outer and rng.random() < 0.5:
        x = rng.choice(outer)
        srcs.append(f"base:{x}")
        what = f", reading the frame's {x}"
    loop, mean = _fresh(unit, "inner_loop"), _fresh(unit, "inner_loop_mean")
    unit[loop] = {"class": "rec", "from": f"base:{enc}", "unit": {
        "h": {"class": "linear", "activation": "tanh", "n_out": 8, "from": srcs},
        "output": {"class": "copy", "from": "h"}}}
    unit[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": loop}
    _add_source(unit[name], mean)
    return new, f"{rec}/{name} also reads the mean of {loop}, a rec over base:{enc}{what}"


def op_self_att_state(case: Case, rng: random.Random) -> Result:
    """The readers of a loop layer read a left-only self-attention over it."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _unit_layers(net[r]["unit"])
             if isinstance(net[r]["unit"][k].get("n_out"), int) and _readers(net[r]["unit"], k)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    n = unit[name]["n_out"]
    att = _fresh(unit, f"{name}_self_att")
    readers = _readers(unit, name)
    unit[att] = {"class": "self_attention", "from": name, "num_heads": 1, "total_key_dim": n, "n_out": n,
                 "attention_left_only": True}
    _redirect(unit, readers, name, att)
    return new, f"{', '.join(readers)} read {rec}/{att}, a left-only self-attention over {name}"


def op_choice_over_decoder(case: Case, rng: random.Random) -> Result:
    """A root choice over a softmax of a decoder loop layer's mean over the output frames."""
    new, net = _copy(case)
    keys = _sparse_keys(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _unit_layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") in ("linear", "rnn_cell", "rec", "combine", "copy")]
    if not sites or not keys:
        return None
    rec, name = rng.choice(sites)
    targets = [net[rec]["unit"][c].get("target") for c in _unit_choices(net[rec]["unit"])]
    key = next((t for t in targets if isinstance(t, str) and t in keys), rng.choice(keys))
    base = _fresh(net, f"{rec}_{name}".replace("/", "_"))
    mean, prob, choice = f"{base}_mean", f"{base}_prob", f"{base}_choice"
    net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": f"{rec}/{name}"}
    net[prob] = {"class": "softmax", "from": mean, "target": key}
    beam = rng.choice([2, 3, 4])
    net[choice] = {"class": "choice", "from": prob, "target": key, "beam_size": beam, "is_output_layer": True}
    return new, f"root choice {choice} (beam {beam}) over a softmax of the mean of {rec}/{name}"


FRESH14_OPERATORS: tuple[Op, ...] = (
    Op("sub-inner-ref", op_sub_inner_ref, 1),
    Op("inner-loop", op_inner_loop, 1),
    Op("self-att-state", op_self_att_state, 1),
    Op("choice-over-decoder", op_choice_over_decoder, 1),
)
