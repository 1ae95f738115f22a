"""A wider mutation generator (issue 15, part 4): edit operators no rule was written for.

The operators come in two fixed sets, chosen (with the seed) before the analysis was changed:

* ``DEV_OPERATORS``: looked at while the model was changed (wrap a loop layer in a ``subnetwork``,
  mark a loop layer an output / give it a loss, insert ``decide`` / ``decide_keep_beam`` at a random
  edge, ``gather`` at a previous choice's position, nest a loop layer in an inner rec unit);
* ``HELD_OUT_OPERATORS``: never looked at while changing the model, reported apart (wrap a root layer
  in a ``subnetwork``, a second decoder that reads the first one's output, retarget, rename, change
  ``initial_output``, insert a ``choice`` at a random place).

RETURNN judges every mutant (``oracle.run_oracle``); ``mutations.evaluate`` / ``report`` score them.
The same seed gives the same mutants.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from .mutations import (
    OPERATORS,
    Case,
    Mutant,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _fresh,
    _get,
    _head,
    _layers,
    _map_refs,
    _put,
    _recs,
    _scopes,
    _slots,
    _sources,
    _sparse_keys,
    _target_keys,
    _unit_choices,
    _walk,
    base_cases,
    generate,
)
from .mutations_fresh import FRESH_OPERATORS, FRESH_SEED
from .mutations_fresh2 import FRESH2_OPERATORS, FRESH2_SEED
from .mutations_fresh3 import FRESH3_OPERATORS, FRESH3_SEED
from .mutations_fresh4 import FRESH4_OPERATORS, FRESH4_SEED
from .mutations_fresh5 import FRESH5_OPERATORS, FRESH5_SEED
from .mutations_fresh6 import FRESH6_OPERATORS, FRESH6_SEED
from .mutations_fresh7 import FRESH7_OPERATORS, FRESH7_SEED
from .mutations_fresh8 import FRESH8_OPERATORS, FRESH8_SEED
from .mutations_fresh9 import FRESH9_OPERATORS, FRESH9_SEED
from .mutations_fresh10 import FRESH10_OPERATORS, FRESH10_SEED
from .mutations_fresh11 import FRESH11_OPERATORS, FRESH11_SEED
from .mutations_fresh12 import FRESH12_OPERATORS, FRESH12_SEED
from .mutations_fresh13 import FRESH13_OPERATORS, FRESH13_SEED
from .mutations_fresh14 import FRESH14_OPERATORS, FRESH14_SEED
from .mutations_fresh15 import FRESH15_OPERATORS, FRESH15_SEED
from .mutations_fresh16 import FRESH16_OPERATORS, FRESH16_SEED
from .mutations_fresh17 import FRESH17_OPERATORS, FRESH17_SEED
from .mutations_fresh18 import FRESH18_OPERATORS, FRESH18_SEED
from .mutations_fresh19 import FRESH19_OPERATORS, FRESH19_SEED
from .mutations_fresh20 import FRESH20_OPERATORS, FRESH20_SEED
from .mutations_fresh21 import FRESH21_OPERATORS, FRESH21_SEED
from .mutations_fresh22 import FRESH22_OPERATORS, FRESH22_SEED
from .mutations_fresh23 import FRESH23_OPERATORS, FRESH23_SEED
from .mutations_fresh24 import FRESH24_OPERATORS, FRESH24_SEED
from .mutations_fresh25 import FRESH25_OPERATORS, FRESH25_SEED
from .mutations_fresh26 import FRESH26_OPERATORS, FRESH26_SEED
from .mutations_fresh27 import FRESH27_OPERATORS, FRESH27_SEED
from .mutations_fresh28 import FRESH28_OPERATORS, FRESH28_SEED
from .mutations_fresh29 import FRESH29_OPERATORS, FRESH29_SEED
from .mutations_fresh30 import FRESH30_OPERATORS, FRESH30_SEED
from .mutations_fresh31 import FRESH31_OPERATORS, FRESH31_SEED
from .mutations_fresh32 import FRESH32_OPERATORS, FRESH32_SEED
from .mutations_fresh33 import FRESH33_OPERATORS, FRESH33_SEED
from .mutations_fresh34 import FRESH34_OPERATORS, FRESH34_SEED
from .mutations_fresh35 import FRESH35_OPERATORS, FRESH35_SEED
from .mutations_fresh36 import FRESH36_OPERATORS, FRESH36_SEED
from .mutations_fresh37 import FRESH37_OPERATORS, FRESH37_SEED
from .mutations_fresh38 import FRESH38_OPERATORS, FRESH38_SEED
from .mutations_fresh39 import FRESH39_OPERATORS, FRESH39_SEED
from .mutations_fresh40 import FRESH40_OPERATORS, FRESH40_SEED
from .mutations_fresh41 import FRESH41_OPERATORS, FRESH41_SEED
from .mutations_fresh42 import FRESH42_OPERATORS, FRESH42_SEED
from .mutations_fresh43 import FRESH43_OPERATORS, FRESH43_SEED
from .mutations_fresh44 import FRESH44_OPERATORS, FRESH44_SEED
from .mutations_fresh45 import FRESH45_OPERATORS, FRESH45_SEED
from .mutations_fresh46 import FRESH46_OPERATORS, FRESH46_SEED
from .mutations_fresh47 import FRESH47_OPERATORS, FRESH47_SEED
from .mutations_fresh48 import FRESH48_OPERATORS, FRESH48_SEED
from .mutations_fresh49 import FRESH49_OPERATORS, FRESH49_SEED
from .mutations_fresh50 import FRESH50_OPERATORS, FRESH50_SEED
from .mutations_fresh51 import FRESH51_OPERATORS, FRESH51_SEED
from .mutations_fresh52 import FRESH52_OPERATORS, FRESH52_SEED
from .mutations_fresh53 import FRESH53_OPERATORS, FRESH53_SEED
from .mutations_fresh54 import FRESH54_OPERATORS, FRESH54_SEED
from .mutations_fresh55 import FRESH55_OPERATORS, FRESH55_SEED
from .mutations_fresh56 import FRESH56_OPERATORS, FRESH56_SEED
from .mutations_fresh57 import FRESH57_OPERATORS, FRESH57_SEED
from .mutations_fresh58 import FRESH58_OPERATORS, FRESH58_SEED
from .mutations_fresh59 import FRESH59_OPERATORS, FRESH59_SEED
from .mutations_fresh60 import FRESH60_OPERATORS, FRESH60_SEED
from .mutations_fresh61 import FRESH61_OPERATORS, FRESH61_SEED
from .mutations_fresh62 import FRESH62_OPERATORS, FRESH62_SEED
from .mutations_fresh63 import FRESH63_OPERATORS, FRESH63_SEED
from .mutations_fresh64 import FRESH64_OPERATORS, FRESH64_SEED
from .mutations_fresh65 import FRESH65_OPERATORS, FRESH65_SEED
from .mutations_fresh66 import FRESH66_OPERATORS, FRESH66_SEED
from .mutations_fresh67 import FRESH67_OPERATORS, FRESH67_SEED
from .mutations_fresh68 import FRESH68_OPERATORS, FRESH68_SEED
from .mutations_fresh69 import FRESH69_OPERATORS, FRESH69_SEED
from .mutations_fresh70 import FRESH70_OPERATORS, FRESH70_SEED
from .mutations_fresh71 import FRESH71_OPERATORS, FRESH71_SEED
from .mutations_fresh72 import FRESH72_OPERATORS, FRESH72_SEED
from .mutations_fresh73 import FRESH73_OPERATORS, FRESH73_SEED
from .mutations_fresh74 import FRESH74_OPERATORS, FRESH74_SEED
from .mutations_fresh75 import FRESH75_OPERATORS, FRESH75_SEED
from .mutations_fresh76 import FRESH76_OPERATORS, FRESH76_SEED
from .mutations_fresh77 import FRESH77_OPERATORS, FRESH77_SEED
from .mutations_fresh78 import FRESH78_OPERATORS, FRESH78_SEED
from .mutations_fresh79 import FRESH79_OPERATORS, FRESH79_SEED
from .mutations_fresh80 import FRESH80_OPERATORS, FRESH80_SEED
from .mutations_fresh81 import FRESH81_OPERATORS, FRESH81_SEED
from .mutations_fresh82 import FRESH82_OPERATORS, FRESH82_SEED
from .mutations_fresh83 import FRESH83_OPERATORS, FRESH83_SEED
from .mutations_fresh84 import FRESH84_OPERATORS, FRESH84_SEED
from .mutations_fresh85 import FRESH85_OPERATORS, FRESH85_SEED
from .mutations_fresh86 import FRESH86_OPERATORS, FRESH86_SEED
from .mutations_fresh87 import FRESH87_OPERATORS, FRESH87_SEED
from .mutations_fresh88 import FRESH88_OPERATORS, FRESH88_SEED
from .mutations_fresh89 import FRESH89_OPERATORS, FRESH89_SEED
from .mutations_fresh90 import FRESH90_OPERATORS, FRESH90_SEED
from .mutations_fresh91 import FRESH91_OPERATORS, FRESH91_SEED
from .mutations_fresh92 import FRESH92_OPERATORS, FRESH92_SEED
from .mutations_fresh93 import FRESH93_OPERATORS, FRESH93_SEED
from .mutations_fresh94 import FRESH94_OPERATORS, FRESH94_SEED
from .mutations_fresh95 import FRESH95_OPERATORS, FRESH95_SEED
from .mutations_fresh96 import FRESH96_OPERATORS, FRESH96_SEED
from .mutations_fresh97 import FRESH97_OPERATORS, FRESH97_SEED
from .mutations_fresh98 import FRESH98_OPERATORS, FRESH98_SEED
from .mutations_fresh99 import FRESH99_OPERATORS, FRESH99_SEED
from .mutations_fresh100 import FRESH100_OPERATORS, FRESH100_SEED
from .mutations_fresh101 import FRESH101_OPERATORS, FRESH101_SEED
from .mutations_fresh102 import FRESH102_OPERATORS, FRESH102_SEED
from .mutations_fresh103 import FRESH103_OPERATORS, FRESH103_SEED
from .mutations_fresh104 import FRESH104_OPERATORS, FRESH104_SEED
from .mutations_fresh105 import FRESH105_OPERATORS, FRESH105_SEED
from .mutations_fresh106 import FRESH106_OPERATORS, FRESH106_SEED
from .mutations_fresh107 import FRESH107_OPERATORS, FRESH107_SEED
from .mutations_fresh108 import FRESH108_OPERATORS, FRESH108_SEED
from .mutations_fresh109 import FRESH109_OPERATORS, FRESH109_SEED
from .mutations_fresh110 import FRESH110_OPERATORS, FRESH110_SEED
from .mutations_fresh111 import FRESH111_OPERATORS, FRESH111_SEED
from .mutations_fresh112 import FRESH112_OPERATORS, FRESH112_SEED
from .mutations_fresh113 import FRESH113_OPERATORS, FRESH113_SEED
from .mutations_fresh114 import FRESH114_OPERATORS, FRESH114_SEED
from .mutations_fresh115 import FRESH115_OPERATORS, FRESH115_SEED
from .mutations_fresh116 import FRESH116_OPERATORS, FRESH116_SEED
from .mutations_fresh117 import FRESH117_OPERATORS, FRESH117_SEED
from .mutations_fresh118 import FRESH118_OPERATORS, FRESH118_SEED
from .mutations_fresh119 import FRESH119_OPERATORS, FRESH119_SEED
from .mutations_fresh120 import FRESH120_OPERATORS, FRESH120_SEED
from .mutations_fresh121 import FRESH121_OPERATORS, FRESH121_SEED
from .oracle import KNOWN_GAPS, analyze_case, corpus_cases, disagreements

#: The wide generator's seed and number of mutants per set (fixed before the model was changed).
WIDE_SEED = 20261205
N_WIDE = 80
#: The base networks at the time of the split (own cases added later would change the mutants).
BASES_FILE = Path(__file__).with_name("wide_bases.txt")


def wide_base_cases() -> list[tuple[str, Case]]:
    """``mutations.base_cases`` restricted to the ids frozen in ``wide_bases.txt``."""
    keep = set(BASES_FILE.read_text().split())
    return [(bid, case) for bid, case in base_cases() if bid in keep]

Result = "tuple[Case, str] | None"


def _unit_layers(unit: dict[str, Any]) -> list[str]:
    return [k for k in _layers(unit) if k not in ("end",)]


def _to_base(ref: str, local: set[str]) -> str:
    """A reference seen from inside a subnetwork that sits in the scope ``local`` names."""
    if ref.startswith("base:") or ref.startswith("data:") and ref[5:] not in local:
        return "base:" + ref
    if ref == "data" or ref in local or ref.startswith("prev:") or _head(ref) in local:
        return "base:" + ref
    return ref


def _wrap(desc: dict[str, Any], scope: set[str]) -> dict[str, Any]:
    inner = {k: v for k, v in desc.items() if k not in ("is_output_layer", "loss", "target", "loss_opts")}
    inner = _walk_refs(inner, lambda r: _to_base(r, scope))
    outer: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": {"output": inner}}
    for key in ("is_output_layer", "loss", "target", "loss_opts"):
        if key in desc:
            outer[key] = desc[key]
    if "loss" in outer:
        del outer["loss"]
        outer.pop("loss_opts", None)
    return outer


def _walk_refs(desc: dict[str, Any], fn: Any) -> dict[str, Any]:
    out = dict(desc)
    _map_refs(out, fn)
    return out


def op_wrap_subnet_loop(case: Case, rng: random.Random) -> Result:
    """Wrap a loop layer (not a choice, not ``end``) in a ``subnetwork`` of the unit."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _unit_layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") not in ("choice", "rec", "subnetwork")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    unit[name] = _wrap(unit[name], set(_layers(unit)))
    return new, f"wrap {rec}/{name} in a subnetwork (in the loop)"


def op_mark_output(case: Case, rng: random.Random) -> Result:
    """Mark a loop layer ``is_output_layer``, or add an auxiliary output layer (one or two loop
    inputs, maybe with a loss) to the unit."""
    new, net = _copy(case)
    recs = _recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    names = [k for k in _unit_layers(unit) if unit[k].get("class") not in ("rec",)]
    if not names:
        return None
    if rng.random() < 0.35:
        name = rng.choice(names)
        unit[name]["is_output_layer"] = True
        return new, f"mark {rec}/{name} is_output_layer"
    srcs = rng.sample(names, min(len(names), rng.choice([1, 2])))
    aux = _fresh(unit, "aux")
    keys = _sparse_keys(case)
    if keys and rng.random() < 0.4:
        unit[aux] = {"class": "softmax", "from": srcs, "target": rng.choice(keys), "loss": "ce"}
        what = "softmax with loss"
    else:
        unit[aux] = {"class": "linear", "activation": None, "from": srcs, "n_out": 3, "is_output_layer": True}
        what = "linear output layer"
    return new, f"add {rec}/{aux} ({what}) reading {srcs}"


def op_insert_beam_layer(case: Case, rng: random.Random) -> Result:
    """Insert a ``decide`` or ``decide_keep_beam`` between any layer and one of its users (root or loop)."""
    new, net = _copy(case)
    scopes = _scopes(net)
    edges = [(rec, layers, k, s) for rec, layers in scopes for k in _layers(layers)
             for s in _slots(layers[k], ("from",)) if _head(_get(layers[k], s)) in layers]
    if not edges:
        return None
    rec, layers, user, slot = rng.choice(edges)
    cls = rng.choice(["decide", "decide_keep_beam"])
    src = _get(layers[user], slot)
    name = _fresh(layers, f"{src.replace('/', '_')}_{cls}")
    layers[name] = {"class": cls, "from": src}
    _put(layers[user], slot, name)
    where = f"{rec}/" if rec else ""
    return new, f"insert {cls} {where}{name} between {where}{src} and {where}{user}"


def op_gather_prev_choice(case: Case, rng: random.Random) -> Result:
    """In a loop, gather a root layer's frame at the position of the previous choice, and feed it on."""
    new, net = _copy(case)
    sites = [(r, c) for r in _recs(net) for c in _unit_choices(net[r]["unit"])]
    roots = [k for k in _layers(net) if net[k].get("class") not in ("rec", "choice", "decide")
             and k not in _beamed_roots(net)]
    if not sites or not roots:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    users = [k for k in _unit_layers(unit) if unit[k].get("class") in ("linear", "softmax", "copy")
             and _sources(unit[k])]
    if not users:
        return None
    src = rng.choice(roots)
    name = _fresh(unit, "gathered")
    pos = rng.choice([f"prev:{choice}", choice])
    unit[name] = {"class": "gather", "from": f"base:{src}", "position": pos, "axis": "T"}
    user = rng.choice(users)
    _add_source(unit[user], name)
    return new, f"add {rec}/{name} (gather base:{src} at {pos}) as a source of {rec}/{user}"


def op_nest_unit(case: Case, rng: random.Random) -> Result:
    """Put a loop layer into an inner rec unit of its own (a rec over the layer's sources, or a
    search loop inside the loop)."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _unit_layers(net[r]["unit"])
             if net[r]["unit"][k].get("class") not in ("choice", "rec")]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[name]
    scope = set(_layers(unit))
    inner = _walk_refs({k: v for k, v in desc.items() if k not in ("is_output_layer", "loss")},
                       lambda r: _to_base(r, scope))
    unit[name] = {"class": "rec", "from": [], "unit": {"output": inner}, "max_seq_len": 1}
    if desc.get("is_output_layer"):
        unit[name]["is_output_layer"] = True
    return new, f"nest {rec}/{name} in an inner rec unit"


def op_wrap_subnet_root(case: Case, rng: random.Random) -> Result:
    """Wrap a root layer (not a rec) in a ``subnetwork``."""
    new, net = _copy(case)
    names = [k for k in _layers(net) if net[k].get("class") not in ("rec", "subnetwork")]
    if not names:
        return None
    name = rng.choice(names)
    net[name] = _wrap(net[name], set(_layers(net)))
    return new, f"wrap {name} in a subnetwork"


def op_second_decoder(case: Case, rng: random.Random) -> Result:
    """Copy a searching decoder as a second one whose unit also reads the first one's output."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if _unit_choices(net[r]["unit"])]
    if not recs:
        return None
    rec = rng.choice(recs)
    dec2 = _fresh(net, f"{rec}_2")
    desc = _walk({k: v for k, v in net[rec].items() if k not in ("is_output_layer",)}, lambda s: s)
    unit = desc["unit"]
    users = [k for k in _unit_layers(unit) if unit[k].get("class") in ("linear", "softmax", "copy", "rnn_cell")
             and _sources(unit[k])]
    if not users:
        return None
    user = rng.choice(users)
    read = rng.choice([f"base:{rec}", f"base:{rec}"])
    if rng.random() < 0.5:
        emb = _fresh(unit, "first_emb")
        unit[emb] = {"class": "reduce", "mode": "max", "axis": "T", "from": read}
        read = emb
    _add_source(unit[user], read)
    net[dec2] = desc
    net[dec2]["is_output_layer"] = True
    return new, f"add a second decoder {dec2} (copy of {rec}) whose {user} reads {read}"


def op_retarget(case: Case, rng: random.Random) -> Result:
    """Change the ``target`` of a layer (choice, softmax, rec) to another data key."""
    new, net = _copy(case)
    keys = sorted(set(_target_keys(case)) | set(_sparse_keys(case)) | {"data"})
    sites = [(None, k) for k in _layers(net) if "target" in net[k]]
    sites += [(r, k) for r in _recs(net) for k in _layers(net[r]["unit"]) if "target" in net[r]["unit"][k]]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = net[name] if rec is None else net[rec]["unit"][name]
    others = [k for k in keys if k != desc["target"]] + ["layer:" + rng.choice(_layers(net))]
    old, desc["target"] = desc["target"], rng.choice(others)
    where = f"{rec}/{name}" if rec else name
    return new, f"retarget {where}: {old!r} -> {desc['target']!r}"


def op_rename(case: Case, rng: random.Random) -> Result:
    """Rename a layer (root or loop, ``output`` / ``end`` included) and every reference to it."""
    new, net = _copy(case)
    scopes = _scopes(net)
    rec, layers = rng.choice(scopes)
    names = _layers(layers)
    if not names:
        return None
    old = rng.choice(names)
    to = _fresh(layers, rng.choice([f"{old}_x", "output", "end", "data", "layer"]))
    layers[to] = layers.pop(old)

    def ren(ref: str) -> str:
        for pre in ("prev:", "base:", ""):
            if rec is None and pre:
                continue
            if ref == pre + old or ref.startswith(pre + old + "/"):
                return pre + to + ref[len(pre + old):]
        return ref

    for k in _layers(layers):
        _map_refs(layers[k], ren)
        if layers[k].get("class") == "rec" and rec is None and isinstance(layers[k].get("unit"), dict):
            unit = layers[k]["unit"]
            for inner in _layers(unit):
                _map_refs(unit[inner], lambda r: "base:" + ren(r[5:]) if r.startswith("base:") else r)
    return new, f"rename {rec + '/' if rec else ''}{old} -> {to}"


def op_change_initial(case: Case, rng: random.Random) -> Result:
    """Set or change ``initial_output`` of a loop layer (a constant, ``zeros``, ``apply(0)``, a root layer)."""
    new, net = _copy(case)
    sites = [(r, k) for r in _recs(net) for k in _unit_layers(net[r]["unit"])]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    roots = [k for k in _layers(net) if k != rec]
    values: list[Any] = [0, 1, "zeros", "apply(0)", None]
    if roots:
        values.append(f"base:{rng.choice(roots)}")
    value = rng.choice(values)
    desc = net[rec]["unit"][name]
    if value is None:
        if "initial_output" not in desc:
            return None
        del desc["initial_output"]
    else:
        desc["initial_output"] = value
    return new, f"initial_output of {rec}/{name} -> {value!r}"


def op_insert_choice(case: Case, rng: random.Random) -> Result:
    """Insert a ``choice`` on a softmax (root or loop) and feed it to one of the softmax' users."""
    new, net = _copy(case)
    keys = _sparse_keys(case)
    scopes = _scopes(net)
    sites = [(rec, layers, k) for rec, layers in scopes for k in _layers(layers)
             if layers[k].get("class") == "softmax"]
    if not sites or not keys:
        return None
    rec, layers, src = rng.choice(sites)
    name = _fresh(layers, f"{src}_choice")
    target = layers[src].get("target") if isinstance(layers[src].get("target"), str) else rng.choice(keys)
    layers[name] = {"class": "choice", "from": src, "target": target, "beam_size": rng.choice([1, 3, 4])}
    if rec is not None:
        layers[name]["initial_output"] = 0
    users = [k for k in _layers(layers) if k != name and any(_head(_get(layers[k], s)) == src
                                                             for s in _slots(layers[k], ("from",)))]
    if users and rng.random() < 0.6:
        user = rng.choice(users)
        slot = next(s for s in _slots(layers[user], ("from",)) if _head(_get(layers[user], s)) == src)
        _put(layers[user], slot, name)
        return new, f"insert choice {name} on {src}, read by {user}" + (f" in {rec}" if rec else "")
    layers[name]["is_output_layer"] = True
    return new, f"add choice {name} on {src} (an output layer)" + (f" in {rec}" if rec else "")


DEV_OPERATORS: tuple[Op, ...] = (
    Op("wrap-subnet-loop", op_wrap_subnet_loop, 2),
    Op("mark-output", op_mark_output, 2),
    Op("insert-beam-layer", op_insert_beam_layer, 2),
    Op("gather-prev-choice", op_gather_prev_choice, 1),
    Op("nest-unit", op_nest_unit, 1),
)
HELD_OUT_OPERATORS: tuple[Op, ...] = (
    Op("wrap-subnet-root", op_wrap_subnet_root, 1.5),
    Op("second-decoder", op_second_decoder, 1.5),
    Op("retarget", op_retarget, 1),
    Op("rename", op_rename, 1),
    Op("change-initial", op_change_initial, 1),
    Op("insert-choice", op_insert_choice, 1.5),
)
SETS = {"dev": DEV_OPERATORS, "held-out": HELD_OUT_OPERATORS, "fresh": FRESH_OPERATORS,
        "fresh2": FRESH2_OPERATORS, "fresh3": FRESH3_OPERATORS, "fresh4": FRESH4_OPERATORS,
        "fresh5": FRESH5_OPERATORS, "fresh6": FRESH6_OPERATORS, "fresh7": FRESH7_OPERATORS,
        "fresh8": FRESH8_OPERATORS, "fresh9": FRESH9_OPERATORS, "fresh10": FRESH10_OPERATORS,
        "fresh11": FRESH11_OPERATORS, "fresh12": FRESH12_OPERATORS,
        "fresh13": FRESH13_OPERATORS, "fresh14": FRESH14_OPERATORS,
        "fresh15": FRESH15_OPERATORS, "fresh16": FRESH16_OPERATORS,
        "fresh17": FRESH17_OPERATORS, "fresh18": FRESH18_OPERATORS,
        "fresh19": FRESH19_OPERATORS, "fresh20": FRESH20_OPERATORS,
        "fresh21": FRESH21_OPERATORS, "fresh22": FRESH22_OPERATORS,
        "fresh23": FRESH23_OPERATORS, "fresh24": FRESH24_OPERATORS, "fresh25": FRESH25_OPERATORS,
        "fresh26": FRESH26_OPERATORS, "fresh27": FRESH27_OPERATORS,
        "fresh28": FRESH28_OPERATORS, "fresh29": FRESH29_OPERATORS, "fresh30": FRESH30_OPERATORS,
        "fresh31": FRESH31_OPERATORS, "fresh32": FRESH32_OPERATORS, "fresh33": FRESH33_OPERATORS,
        "fresh34": FRESH34_OPERATORS, "fresh35": FRESH35_OPERATORS, "fresh36": FRESH36_OPERATORS,
        "fresh37": FRESH37_OPERATORS, "fresh38": FRESH38_OPERATORS, "fresh39": FRESH39_OPERATORS,
        "fresh40": FRESH40_OPERATORS, "fresh41": FRESH41_OPERATORS, "fresh42": FRESH42_OPERATORS,
        "fresh43": FRESH43_OPERATORS, "fresh44": FRESH44_OPERATORS, "fresh45": FRESH45_OPERATORS,
        "fresh46": FRESH46_OPERATORS, "fresh47": FRESH47_OPERATORS, "fresh48": FRESH48_OPERATORS,
        "fresh49": FRESH49_OPERATORS, "fresh50": FRESH50_OPERATORS, "fresh51": FRESH51_OPERATORS,
        "fresh52": FRESH52_OPERATORS, "fresh53": FRESH53_OPERATORS, "fresh54": FRESH54_OPERATORS,
        "fresh55": FRESH55_OPERATORS, "fresh56": FRESH56_OPERATORS, "fresh57": FRESH57_OPERATORS,
        "fresh58": FRESH58_OPERATORS, "fresh59": FRESH59_OPERATORS, "fresh60": FRESH60_OPERATORS, "fresh61": FRESH61_OPERATORS, "fresh62": FRESH62_OPERATORS, "fresh63": FRESH63_OPERATORS, "fresh64": FRESH64_OPERATORS, "fresh65": FRESH65_OPERATORS, "fresh66": FRESH66_OPERATORS, "fresh67": FRESH67_OPERATORS, "fresh68": FRESH68_OPERATORS, "fresh69": FRESH69_OPERATORS, "fresh70": FRESH70_OPERATORS, "fresh71": FRESH71_OPERATORS, "fresh72": FRESH72_OPERATORS, "fresh73": FRESH73_OPERATORS, "fresh74": FRESH74_OPERATORS, "fresh75": FRESH75_OPERATORS, "fresh76": FRESH76_OPERATORS, "fresh77": FRESH77_OPERATORS, "fresh78": FRESH78_OPERATORS, "fresh79": FRESH79_OPERATORS, "fresh80": FRESH80_OPERATORS, "fresh81": FRESH81_OPERATORS, "fresh82": FRESH82_OPERATORS, "fresh83": FRESH83_OPERATORS, "fresh84": FRESH84_OPERATORS, "fresh85": FRESH85_OPERATORS, "fresh86": FRESH86_OPERATORS, "fresh87": FRESH87_OPERATORS, "fresh88": FRESH88_OPERATORS, "fresh89": FRESH89_OPERATORS, "fresh90": FRESH90_OPERATORS, "fresh91": FRESH91_OPERATORS, "fresh92": FRESH92_OPERATORS, "fresh93": FRESH93_OPERATORS, "fresh94": FRESH94_OPERATORS, "fresh95": FRESH95_OPERATORS, "fresh96": FRESH96_OPERATORS, "fresh97": FRESH97_OPERATORS, "fresh98": FRESH98_OPERATORS, "fresh99": FRESH99_OPERATORS, "fresh100": FRESH100_OPERATORS, "fresh101": FRESH101_OPERATORS, "fresh102": FRESH102_OPERATORS, "fresh103": FRESH103_OPERATORS, "fresh104": FRESH104_OPERATORS, "fresh105": FRESH105_OPERATORS, "fresh106": FRESH106_OPERATORS, "fresh107": FRESH107_OPERATORS, "fresh108": FRESH108_OPERATORS, "fresh109": FRESH109_OPERATORS, "fresh110": FRESH110_OPERATORS, "fresh111": FRESH111_OPERATORS, "fresh112": FRESH112_OPERATORS, "fresh113": FRESH113_OPERATORS, "fresh114": FRESH114_OPERATORS, "fresh115": FRESH115_OPERATORS, "fresh116": FRESH116_OPERATORS, "fresh117": FRESH117_OPERATORS, "fresh118": FRESH118_OPERATORS, "fresh119": FRESH119_OPERATORS, "fresh120": FRESH120_OPERATORS, "fresh121": FRESH121_OPERATORS,
        "classic": OPERATORS}
#: Each set's seed: the fresh set (``mutations_fresh.py``) has its own; ``classic`` is the first
#: generator's operators (``mutations.OPERATORS``) with the wide seed, for other bases than its own.
SEEDS = {"dev": WIDE_SEED, "held-out": WIDE_SEED, "fresh": FRESH_SEED, "fresh2": FRESH2_SEED,
         "fresh3": FRESH3_SEED, "fresh4": FRESH4_SEED, "fresh5": FRESH5_SEED, "fresh6": FRESH6_SEED,
         "fresh7": FRESH7_SEED, "fresh8": FRESH8_SEED, "fresh9": FRESH9_SEED,
         "fresh10": FRESH10_SEED, "fresh11": FRESH11_SEED, "fresh12": FRESH12_SEED,
         "fresh13": FRESH13_SEED, "fresh14": FRESH14_SEED, "fresh15": FRESH15_SEED,
         "fresh16": FRESH16_SEED, "fresh17": FRESH17_SEED, "fresh18": FRESH18_SEED,
         "fresh19": FRESH19_SEED, "fresh20": FRESH20_SEED,
         "fresh21": FRESH21_SEED, "fresh22": FRESH22_SEED,
         "fresh23": FRESH23_SEED, "fresh24": FRESH24_SEED, "fresh25": FRESH25_SEED,
         "fresh26": FRESH26_SEED, "fresh27": FRESH27_SEED,
         "fresh28": FRESH28_SEED, "fresh29": FRESH29_SEED, "fresh30": FRESH30_SEED,
         "fresh31": FRESH31_SEED, "fresh32": FRESH32_SEED, "fresh33": FRESH33_SEED,
         "fresh34": FRESH34_SEED, "fresh35": FRESH35_SEED, "fresh36": FRESH36_SEED,
         "fresh37": FRESH37_SEED, "fresh38": FRESH38_SEED, "fresh39": FRESH39_SEED,
         "fresh40": FRESH40_SEED, "fresh41": FRESH41_SEED, "fresh42": FRESH42_SEED,
         "fresh43": FRESH43_SEED, "fresh44": FRESH44_SEED, "fresh45": FRESH45_SEED,
         "fresh46": FRESH46_SEED, "fresh47": FRESH47_SEED, "fresh48": FRESH48_SEED,
         "fresh49": FRESH49_SEED, "fresh50": FRESH50_SEED, "fresh51": FRESH51_SEED,
         "fresh52": FRESH52_SEED, "fresh53": FRESH53_SEED, "fresh54": FRESH54_SEED,
         "fresh55": FRESH55_SEED, "fresh56": FRESH56_SEED, "fresh57": FRESH57_SEED,
         "fresh58": FRESH58_SEED, "fresh59": FRESH59_SEED, "fresh60": FRESH60_SEED, "fresh61": FRESH61_SEED, "fresh62": FRESH62_SEED, "fresh63": FRESH63_SEED, "fresh64": FRESH64_SEED, "fresh65": FRESH65_SEED, "fresh66": FRESH66_SEED, "fresh67": FRESH67_SEED, "fresh68": FRESH68_SEED, "fresh69": FRESH69_SEED, "fresh70": FRESH70_SEED, "fresh71": FRESH71_SEED, "fresh72": FRESH72_SEED, "fresh73": FRESH73_SEED, "fresh74": FRESH74_SEED, "fresh75": FRESH75_SEED, "fresh76": FRESH76_SEED, "fresh77": FRESH77_SEED, "fresh78": FRESH78_SEED, "fresh79": FRESH79_SEED, "fresh80": FRESH80_SEED, "fresh81": FRESH81_SEED, "fresh82": FRESH82_SEED, "fresh83": FRESH83_SEED, "fresh84": FRESH84_SEED, "fresh85": FRESH85_SEED, "fresh86": FRESH86_SEED, "fresh87": FRESH87_SEED, "fresh88": FRESH88_SEED, "fresh89": FRESH89_SEED, "fresh90": FRESH90_SEED, "fresh91": FRESH91_SEED, "fresh92": FRESH92_SEED, "fresh93": FRESH93_SEED, "fresh94": FRESH94_SEED, "fresh95": FRESH95_SEED, "fresh96": FRESH96_SEED, "fresh97": FRESH97_SEED, "fresh98": FRESH98_SEED, "fresh99": FRESH99_SEED, "fresh100": FRESH100_SEED, "fresh101": FRESH101_SEED, "fresh102": FRESH102_SEED, "fresh103": FRESH103_SEED, "fresh104": FRESH104_SEED, "fresh105": FRESH105_SEED, "fresh106": FRESH106_SEED, "fresh107": FRESH107_SEED, "fresh108": FRESH108_SEED, "fresh109": FRESH109_SEED, "fresh110": FRESH110_SEED, "fresh111": FRESH111_SEED, "fresh112": FRESH112_SEED, "fresh113": FRESH113_SEED, "fresh114": FRESH114_SEED, "fresh115": FRESH115_SEED, "fresh116": FRESH116_SEED, "fresh117": FRESH117_SEED, "fresh118": FRESH118_SEED, "fresh119": FRESH119_SEED, "fresh120": FRESH120_SEED, "fresh121": FRESH121_SEED,
         "classic": WIDE_SEED}


def generate_wide(base_cases: list[tuple[str, Case]], which: str, n: int = N_WIDE,
                  seed: int | None = None) -> list[Mutant]:
    """``n`` mutants made with the ``which`` set's operators (``dev``, ``held-out`` or ``fresh``),
    with the set's own seed unless ``seed`` is given."""
    seed = SEEDS[which] if seed is None else seed
    return [(f"{which}-{mid}", {**case, "id": f"{which}-{mid}"}, desc)
            for mid, case, desc in generate(base_cases, n, seed, SETS[which])]


#: the corpus networks taken as real bases (RETURNN's construction time, seconds)
MAX_REAL_S = 8.0
#: a recall floor is checked on samples with at least this many search failures (fewer say little)
MIN_POSITIVES = 10


def real_base_cases() -> list[tuple[str, Case]]:
    """Every corpus network RETURNN builds in search mode within ``MAX_REAL_S`` (known gaps left out):
    real attention decoders, transformers, hybrid and transducer models as bases."""
    return [(cid, case) for cid, case, oracle in corpus_cases()
            if oracle.get("ok") and (oracle.get("construct_s") or 99.0) < MAX_REAL_S and cid not in KNOWN_GAPS]


def counts_only(text: str) -> str:
    """A ``report`` cut to its confusion matrix and per-operator counts: how a held-out set is read."""
    return "\n\n".join(text.split("\n\n")[:4])


def provenance_failures(mutants: list[Mutant], results: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Mutant id -> the per-layer fields searchgraph and RETURNN disagree on, for the mutants RETURNN
    builds (searchgraph raising is a disagreement too)."""
    out: dict[str, list[str]] = {}
    for mid, case, _ in mutants:
        res = results[mid]
        if not res.get("ok"):
            continue
        try:
            dis = disagreements(analyze_case(case), res.get("layers") or {})
        except Exception as exc:  # noqa: BLE001 - reported
            dis = [f"searchgraph raised {exc!r}"]
        if dis:
            out[mid] = dis
    return out


def assert_provenance(which: str, mutants: list[Mutant], results: dict[str, dict[str, Any]], *,
                      held_out: tuple[str, ...], held_out_gaps: dict[str, int],
                      known: frozenset[str] | set[str] = frozenset()) -> None:
    """Every built mutant agrees with RETURNN on every per-layer field, but for ``known`` gaps (strict:
    each must still disagree); a held-out set is judged by its count against the gaps it had when it
    was measured, and names no mutant."""
    bad = provenance_failures(mutants, results)
    if which in held_out:
        assert len(bad) <= held_out_gaps.get(which, 0), (which, len(bad))
        return
    ids = {mid for mid, _, _ in mutants}
    assert set(bad) == set(known) & ids, (which, {mid: dis[:3] for mid, dis in bad.items()})

