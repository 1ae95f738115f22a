"""A sixth set of edit operators (issue 15, second session), written and seeded when the fifth set
(``mutations_fresh3.py``) was opened for development: held out from then on, looked at as counts only.

Operators (none a variant of an earlier one; no rule was written for any of them):

* ``lm-fusion``: a language model inside the decoder (a ``subnetwork`` over the previous label), its
  log-probabilities added to the scores the choice reads (shallow fusion);
* ``length-compare``: a root layer comparing the decoder's output length with the encoder's;
* ``decide-rescore``: a decide on a searching decoder, then a loop over the decided sequence;
* ``ctc-aux``: a CTC softmax on a root layer (an auxiliary output);
* ``double-end``: the loop also ends after a number of frames (``logical_or`` with ``:i``);
* ``wrap-pair``: a searching decoder and a ``decide`` on it moved together into a root subnetwork.
"""

from __future__ import annotations

import random

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _recs,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH4_SEED = 20261210
N_FRESH4 = 80

Result = "tuple[Case, str] | None"



def op_lm_fusion(case: Case, rng: random.Random) -> Result:
    """An LM subnetwork over the previous label; its log-softmax added to the choice's scores."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])
             if net[r]["unit"][c].get("input_type") != "regression" and _sources(net[r]["unit"][c])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    scores = _sources(unit[choice])[0]
    if scores.startswith(("prev:", "base:")) or scores not in unit:
        return None
    lm = _fresh(unit, "lm")
    unit[lm] = {"class": "subnetwork", "from": f"prev:{choice}", "subnetwork": {
        "emb": {"class": "linear", "activation": None, "from": "data", "n_out": 4},
        "state": {"class": "linear", "activation": "tanh", "from": "emb", "n_out": 4},
        "output": {"class": "linear", "activation": "log_softmax", "from": "state",
                   "target": unit[choice].get("target")}}}
    fused = _fresh(unit, "fused")
    unit[fused] = {"class": "eval", "from": [scores, lm], "eval": "safe_log(source(0)) + 0.3 * source(1)"}
    unit[choice]["from"] = fused
    unit[choice]["input_type"] = "log_prob"
    return new, f"{rec}/{choice} reads {fused} = log {scores} + 0.3 * {rec}/{lm} (an LM over prev:{choice})"


def op_length_compare(case: Case, rng: random.Random) -> Result:
    """A root layer comparing a decoder's output length with a root layer's."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    roots = [k for k in _layers(net) if net[k].get("class") not in ("rec", "choice", "decide", "reduce")]
    if not recs or not roots:
        return None
    rec, other = rng.choice(recs), rng.choice(roots)
    dec_len = _fresh(net, f"{rec}_len")
    net[dec_len] = {"class": "length", "from": rec}
    other_len = _fresh(net, f"{other}_len")
    net[other_len] = {"class": "length", "from": other}
    ratio = _fresh(net, "len_ratio")
    net[ratio] = {"class": "eval", "from": [dec_len, other_len], "is_output_layer": True,
                  "eval": "tf.cast(source(0), tf.float32) / tf.cast(source(1) + 1, tf.float32)",
                  "out_type": {"dtype": "float32"}}
    return new, f"add {ratio}: length of {rec} over length of {other}"


def op_decide_rescore(case: Case, rng: random.Random) -> Result:
    """Decide a searching decoder at the root, then loop over the decided labels."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    dec = _fresh(net, f"{rec}_best")
    net[dec] = {"class": "decide", "from": rec}
    name = _fresh(net, f"{rec}_over_best")
    net[name] = {"class": "rec", "from": dec, "is_output_layer": True, "unit": {
        "emb": {"class": "linear", "activation": None, "from": "data:source", "n_out": 4},
        "state": {"class": "linear", "activation": "tanh", "from": ["emb", "prev:state"], "n_out": 4},
        "output": {"class": "copy", "from": "state"}}}
    return new, f"add {dec} = decide({rec}) and {name}, a loop over it"


def op_ctc_aux(case: Case, rng: random.Random) -> Result:
    """A CTC softmax on a root layer with a time axis, as an output layer."""
    new, net = _copy(case)
    roots = [k for k in _layers(net) if net[k].get("class") in ("linear", "copy", "rec")
             and not _unit_choices(net[k].get("unit") if isinstance(net[k].get("unit"), dict) else {})]
    targets = sorted(k for k, v in (case.get("extern_data") or {}).items()
                     if isinstance(v, dict) and (v.get("sparse") or v.get("sparse_dim")))
    if not roots or not targets:
        return None
    src, target = rng.choice(roots), rng.choice(targets)
    name = _fresh(net, "ctc")
    net[name] = {"class": "softmax", "from": src, "target": target, "loss": "ctc", "is_output_layer": True}
    return new, f"add {name}: CTC softmax on {src} for {target}"


def op_double_end(case: Case, rng: random.Random) -> Result:
    """The loop also ends after N frames: ``end = logical_or(old end, :i >= N)``."""
    new, net = _copy(case)
    recs = [r for r in _recs(net) if "end" in net[r]["unit"]]
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    old = _fresh(unit, "end_label")
    unit[old] = unit.pop("end")
    too_long = _fresh(unit, "too_long")
    unit[too_long] = {"class": "compare", "from": ":i", "value": rng.choice([3, 5, 8]), "kind": "greater_equal"}
    unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, too_long]}

    def ren(ref: str) -> str:
        return {"end": old, "prev:end": f"prev:{old}"}.get(ref, ref)

    for k in _layers(unit):
        if k != "end":
            _map_refs(unit[k], ren)
    return new, f"{rec}/end = logical_or({old}, :i >= {unit[too_long]['value']})"


def op_wrap_pair(case: Case, rng: random.Random) -> Result:
    """Move a searching decoder and a ``decide`` on it into one root subnetwork (output: the decision)."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    name = _fresh(net, f"{rec}_search")
    inner_rec = dict(net[rec])
    inner_rec.pop("is_output_layer", None)

    def outer(ref: str) -> str:
        return "base:" + ref if ref.startswith("base:") else ref

    unit = inner_rec["unit"]
    for k in _layers(unit):
        _map_refs(unit[k], outer)
    srcs = _sources(inner_rec)
    inner_rec["from"] = ["base:" + s for s in srcs]
    net[name] = {"class": "subnetwork", "from": [], "is_output_layer": True, "subnetwork": {
        "dec": inner_rec, "output": {"class": "decide", "from": "dec"}}}
    return new, f"add {name}: {rec} and a decide on it in one subnetwork"


FRESH4_OPERATORS: tuple[Op, ...] = (
    Op("lm-fusion", op_lm_fusion, 1.5),
    Op("length-compare", op_length_compare, 1),
    Op("decide-rescore", op_decide_rescore, 1),
    Op("ctc-aux", op_ctc_aux, 1),
    Op("double-end", op_double_end, 1),
    Op("wrap-pair", op_wrap_pair, 1.5),
)
