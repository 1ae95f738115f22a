"""A hundred-and-twenty-second set of edit operators (issue 15, twenty-third session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: Parallel decoders for several outputs over one encoder: two searching decoders run side by side
over the base's encoder, as in multi-speaker ASR (one decoder per speaker, a permutation-invariant
selection at the root), multi-task set-ups (transcript and translation, words and phones) and joint
ASR + ST, with their outputs combined at the root, one decoder reading the other's decided or undecided
output, shared sub-layers between the two units (``reuse_params``), and the mistakes users make (reading
the other decoder's beamed output, both decoders on the same target). Sources: the multi-task /
multi-decoder configs of rwth-i6/returnn-experiments (``2019-st-many2one``, the joint ASR+ST and
multi-speaker set-ups) and rwth-i6/i6_experiments, RETURNN's ``RecLayer`` / ``DecideLayer`` /
``StackLayer`` / ``EditDistanceLayer`` / ``LengthLayer`` (installed ``returnn/tf/layers/{rec,basic}.py``),
``SearchChoices.translate_to_common_search_beam`` and ``TFNetwork.get_search_choices`` (two independent
search choices meeting at the root), and issue threads on two searching decoders in one network. The second
decoder is always a copy of a searching decoder of the base (its layers keep their names, its target moved
to a new sparse extern-data key of the same vocabulary, ``<target>_2``, or, as users mistakenly do, left on
the same target), decided at the root by an output ``decide`` layer (none a variant of an earlier operator;
no rule was written for any of them):

* ``twin-root-combine``: multi-speaker / multi-task decoding with the two decoders' outputs combined at the
  root: an ``edit_distance`` between them (the PIT-style agreement of the two hypotheses), a ``stack`` of
  their ``length`` layers, a ``compare`` of their lengths, or a ``combine`` of two per-decoder scores
  (``reduce`` over the decoded embedding), each taken from the decided outputs (the right form) or from the
  undecided, beamed rec outputs (a common mistake). Targets: ``DecideLayer``, ``EditDistanceLayer``,
  ``StackLayer`` and ``CombineLayer`` over two sources with search choices from different loops
  (``SearchChoices.translate_to_common_search_beam``, "Cannot combine beams").
* ``twin-attend-other``: cascaded / joint ASR+ST (``2019-st-many2one``-like, two-pass multi-task): the
  second decoder attends, inside its loop, over the first decoder's output, embedded at the root (a
  ``linear`` of the decided labels, or of the undecided beamed rec output), with energies from its own
  state (``combine`` add, ``linear`` to one, ``softmax_over_spatial``, ``generic_attention``), or reads
  the first decoder's label at its own step through ``gather`` at ``:i`` (clipped). Targets:
  ``_SubnetworkRecCell`` ``base:`` layers with a beam of another loop (``get_search_choices`` of the
  template, ``select_src_beams``), ``GenericAttentionLayer`` / ``softmax_over_spatial`` over another loop's
  time axis.
* ``twin-init-from-other``: the second decoder's dense state is initialised from the first decoder (its
  ``initial_output`` a ``base:`` root layer: a ``linear`` of the mean over the first decoder's decided
  embedding, of a loop sub-layer read by path ``REC/LAYER``, or of the undecided output). Targets:
  ``RecLayer`` ``initial_output`` through ``get_rec_initial_output`` with a beamed source of another search,
  ``_TemplateLayer.get_search_choices`` of ``base:`` initials.
* ``twin-shared-params``: the two units share sub-layers: layers of the second decoder (embedding, readout,
  output softmax) get ``reuse_params`` of the first decoder's layer by path (``base:REC/LAYER``), or of a new
  root layer both decoders' layers reuse (a dict ``map`` / ``reuse_layer``), sometimes with both decoders left
  on the same target; the first decoder's layers reused by path are marked ``is_output_layer`` (the fix
  RETURNN's "only available inside the recurrent loop" message names) in most mutants. Targets: ``LayerBase.transform_config_dict`` ``reuse_params`` resolution
  (``get_layer`` of a loop layer of another rec from inside a unit), ``RecLayer.get_sub_layer``.
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
    _layers,
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH120_SEED = 20270182
N_FRESH120 = 80

Result = "tuple[Case, str] | None"

_KEY_OPTS = ("from", "initial_output", "weights", "base", "reuse_params", "condition", "true_from",
             "false_from", "position", "explicit_search_sources", "keys", "values")


def _key(target: Any) -> str | None:
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choice(unit: dict[str, Any]) -> str | None:
    """The searching label choice of a unit (the first, sorted), with a data target."""
    for c in _unit_choices(unit):
        desc = unit[c]
        if desc.get("input_type") == "regression" or desc.get("search", True) is False:
            continue
        if _key(desc.get("target")) is not None:
            return c
    return None


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(rec, choice, target key, vocabulary size) of the searching decoders with a label choice."""
    out = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        c = _label_choice(unit)
        if c is None:
            continue
        key = _key(unit[c]["target"])
        dim = _target_dim(case, key)
        if isinstance(dim, int):
            out.append((r, c, key, dim))
    return out


def _rename_data(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        if value == old:
            return new
        if value == f"data:{old}":
            return f"data:{new}"
        if value == f"base:data:{old}":
            return f"base:data:{new}"
        return value
    if isinstance(value, list):
        return [_rename_data(v, old, new) for v in value]
    return value


def _add_key(case: Case, key: str) -> str:
    """A new sparse extern-data key like ``key`` (same vocabulary): the second speaker's / task's labels."""
    ext = case.get("extern_data")
    num = case.get("num_outputs")
    taken = set(ext or {}) | set(num or {})
    new_key = _fresh(taken, f"{key}_2")
    if isinstance(ext, dict) and key in ext:
        ext[new_key] = copy.deepcopy(ext[key])
        if isinstance(ext[new_key], dict):
            for k in ("same_dim_tags_as", "dim_tags", "dims"):
                ext[new_key].pop(k, None)
    if isinstance(num, dict) and key in num:
        num[new_key] = copy.deepcopy(num[key])
    return new_key


def _twin(case: Case, net: dict[str, Any], rng: random.Random, same_target_p: float
          ) -> tuple[str, str, str, str, str, str, int] | None:
    """Copy a searching decoder as a second one (decided at the root).

    Returns (rec, dec2, choice, key, key2, decided1, dim); decided1 is a root ``decide`` of the first
    decoder (an existing one, else a new output layer)."""
    sites = _sites(case, net)
    if not sites:
        return None
    rec, choice, key, dim = rng.choice(sites)
    same = rng.random() < same_target_p
    key2 = key if same else _add_key(case, key)
    dec2 = _fresh(net, f"{rec}_2" if rng.random() < 0.5 else f"{rec}_spk2")
    desc = copy.deepcopy(net[rec])
    desc.pop("is_output_layer", None)
    if "target" in desc:
        desc["target"] = _rename_data(desc["target"], key, key2)
    for name in _layers(desc["unit"]):
        layer = desc["unit"][name]
        for opt in ("target", *_KEY_OPTS):
            if opt in layer:
                layer[opt] = _rename_data(layer[opt], key, key2)
    net[dec2] = desc
    decided1 = next((k for k in _layers(net) if net[k].get("class") == "decide" and net[k].get("from") == rec),
                    None)
    if decided1 is None:
        decided1 = _fresh(net, f"{rec}_decided")
        net[decided1] = {"class": "decide", "from": rec, "is_output_layer": True}
    dec2_decided = _fresh(net, f"{dec2}_decided")
    net[dec2_decided] = {"class": "decide", "from": dec2, "is_output_layer": True}
    return rec, dec2, choice, key, key2, decided1, dim


def _twin_how(rec: str, dec2: str, key: str, key2: str) -> str:
    if key == key2:
        return f"second decoder {dec2} (copy of {rec}) on the SAME target {key!r}"
    return f"second decoder {dec2} (copy of {rec}) on a new target {key2!r}"


# ----------------------------------------------------------------------------------------------------
# twin-root-combine


def op_twin_root_combine(case: Case, rng: random.Random) -> Result:
    """Two parallel decoders, their outputs combined at the root (decided, or the beamed outputs)."""
    new, net = _copy(case)
    tw = _twin(new, net, rng, 0.2)
    if tw is None:
        return None
    rec, dec2, choice, key, key2, dec1_d, dim = tw
    how = _twin_how(rec, dec2, key, key2)
    dec2_d = f"{dec2}_decided" if f"{dec2}_decided" in net else dec2
    decided = rng.random() < 0.6
    a, b = (dec1_d, dec2_d) if decided else (rec, dec2)
    if not decided and rng.random() < 0.3:
        a = dec1_d  # one decided, the other not
    form = "decided" if decided else "undecided"
    kind = rng.choices(["edit", "stack_len", "cmp_len", "score"], [0.35, 0.25, 0.15, 0.25])[0]
    out = _fresh(net, "twin")
    if kind == "edit":
        net[out] = {"class": "edit_distance", "from": [], "a": a, "b": b, "is_output_layer": True}
        how += f"; root {out} = edit_distance(a={a}, b={b}) ({form})"
    elif kind in ("stack_len", "cmp_len"):
        la = _fresh(net, f"{a}_len")
        net[la] = {"class": "length", "from": a}
        lb = _fresh(net, f"{b}_len")
        net[lb] = {"class": "length", "from": b}
        if kind == "stack_len":
            net[out] = {"class": "stack", "from": [la, lb], "is_output_layer": True}
            how += f"; root {out} = stack(length({a}), length({b})) ({form})"
        else:
            net[out] = {"class": "compare", "kind": "equal", "from": [la, lb], "is_output_layer": True}
            how += f"; root {out} = length({a}) == length({b}) ({form})"
    else:
        parts = []
        for src in (a, b):
            emb = _fresh(net, f"{src}_emb")
            net[emb] = {"class": "linear", "activation": "tanh", "from": src, "n_out": 4}
            red = _fresh(net, f"{src}_score")
            net[red] = {"class": "reduce", "mode": "mean", "axes": "T", "from": emb}
            parts.append(red)
        net[out] = {"class": "combine", "kind": rng.choice(["add", "sub"]), "from": parts,
                    "is_output_layer": True}
        how += f"; root {out} = combine of per-decoder scores {parts} (mean of an embedding of {a} / {b}, {form})"
    return new, how


# ----------------------------------------------------------------------------------------------------
# twin-attend-other


def _state_layer(unit: dict[str, Any], choice: str) -> str | None:
    """A dense loop layer of the unit (not the choice, not end) with a ``n_out``: the decoder state."""
    cands = [k for k in _layers(unit) if k not in (choice, "end") and isinstance(unit[k].get("n_out"), int)
             and unit[k].get("class") in ("rnn_cell", "linear", "rec")
             and unit[k].get("n_out", 0) > 1]
    pref = [k for k in cands if unit[k].get("class") in ("rnn_cell", "rec") or k in ("s", "state", "lstm")]
    pool = pref or cands
    return pool[0] if pool else None


def _score_user(unit: dict[str, Any], choice: str) -> str | None:
    """The dense layer the choice's scores are computed from (the source of the softmax) or the softmax."""
    srcs = [s for s in _sources(unit[choice]) if s in unit]
    if not srcs:
        return None
    prob = srcs[0]
    inner = [s for s in _sources(unit[prob]) if s in unit and unit[s].get("class") not in ("choice",)]
    return inner[0] if inner and unit[inner[0]].get("class") in ("linear", "copy", "rnn_cell", "rec",
                                                                  "combine", "activation") else prob


def op_twin_attend_other(case: Case, rng: random.Random) -> Result:
    """The second decoder reads the first decoder's output inside its loop (attention or gather)."""
    new, net = _copy(case)
    tw = _twin(new, net, rng, 0.1)
    if tw is None:
        return None
    rec, dec2, choice, key, key2, dec1_d, dim = tw
    how = _twin_how(rec, dec2, key, key2)
    unit = net[dec2]["unit"]
    state = _state_layer(unit, choice)
    user = _score_user(unit, choice)
    if state is None or user is None:
        return None
    src = dec1_d if rng.random() < 0.6 else rec
    form = "decided" if src == dec1_d else "undecided, beamed"
    n = 6
    if rng.random() < 0.7:
        emb = _fresh(net, f"{rec}_out_emb")
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": n}
        q = _fresh(unit, "other_q")
        unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": state, "n_out": n}
        e_in = _fresh(unit, "other_energy_in")
        unit[e_in] = {"class": "combine", "kind": "add", "from": [f"base:{emb}", q]}
        e_t = _fresh(unit, "other_energy_tanh")
        unit[e_t] = {"class": "activation", "activation": "tanh", "from": e_in}
        e = _fresh(unit, "other_energy")
        unit[e] = {"class": "linear", "activation": None, "with_bias": False, "from": e_t, "n_out": 1}
        w = _fresh(unit, "other_weights")
        unit[w] = {"class": "softmax_over_spatial", "from": e}
        ctx = _fresh(unit, "other_ctx")
        unit[ctx] = {"class": "generic_attention", "weights": w, "base": f"base:{emb}"}
        how += (f"; {dec2}/{ctx} attends over base:{emb} (linear of {rec}'s output, {form}) with "
                f"query {state}")
    else:
        pos = _fresh(unit, "other_pos")
        ln = _fresh(net, f"{rec}_out_len")
        net[ln] = {"class": "length", "from": src}
        unit[pos] = {"class": "eval", "from": [":i", f"base:{ln}"],
                     "eval": "tf.minimum(source(0), tf.maximum(source(1) - 1, 0))",
                     "out_type": {"dtype": "int32", "dim": None, "sparse": False}}
        lab = _fresh(unit, "other_label")
        unit[lab] = {"class": "gather", "from": f"base:{src}", "axis": "T", "position": pos}
        ctx = _fresh(unit, "other_ctx")
        unit[ctx] = {"class": "linear", "activation": None, "from": lab, "n_out": n}
        how += (f"; {dec2}/{lab} = gather of base:{src} ({form}) at :i clipped to its length, "
                f"embedded as {ctx}")
    srcs = unit[user].get("from")
    unit[user]["from"] = [*([srcs] if isinstance(srcs, str) else list(srcs or [])), ctx]
    return new, how + f"; {dec2}/{user} reads {ctx}"


# ----------------------------------------------------------------------------------------------------
# twin-init-from-other


def op_twin_init_from_other(case: Case, rng: random.Random) -> Result:
    """The second decoder's state starts from the first decoder's result (``initial_output`` base: layer)."""
    new, net = _copy(case)
    tw = _twin(new, net, rng, 0.15)
    if tw is None:
        return None
    rec, dec2, choice, key, key2, dec1_d, dim = tw
    how = _twin_how(rec, dec2, key, key2)
    unit = net[dec2]["unit"]
    cands = [k for k in _layers(unit) if k not in (choice, "end") and isinstance(unit[k].get("n_out"), int)
             and unit[k].get("class") in ("linear", "rnn_cell", "combine", "activation", "copy")
             and _readers(unit, k, f"prev:{k}")]
    if not cands:
        return None
    state = rng.choice(cands)
    n_out = unit[state]["n_out"]
    unit1 = net[rec]["unit"]
    kind = rng.choices(["decided", "sublayer", "undecided"], [0.5, 0.25, 0.25])[0]
    if kind == "sublayer":
        subs = [k for k in _layers(unit1) if k not in ("end",) and unit1[k].get("class") != "choice"
                and isinstance(unit1[k].get("n_out"), int) and unit1[k]["n_out"] > 1]
        if not subs:
            kind = "decided"
        else:
            sub = rng.choice(subs)
            src = f"{rec}/{sub}"
            if rng.random() < 0.5:
                unit1[sub]["is_output_layer"] = True
                src_how = f"{rec}/{sub} (marked an output layer of {rec})"
            else:
                src_how = f"{rec}/{sub}"
    if kind == "decided":
        src, src_how = dec1_d, f"{dec1_d} (decided)"
    elif kind == "undecided":
        src, src_how = rec, f"{rec} (undecided, beamed)"
    emb = _fresh(net, f"{rec}_summary_in")
    if kind == "sublayer":
        net[emb] = {"class": "copy", "from": src}
    else:
        net[emb] = {"class": "linear", "activation": None, "from": src, "n_out": 6}
    mean = _fresh(net, f"{rec}_summary")
    net[mean] = {"class": "reduce", "mode": rng.choice(["mean", "max"]), "axes": "T", "from": emb}
    init = _fresh(net, f"{dec2}_{state}_init")
    net[init] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": n_out}
    old = unit[state].get("initial_output")
    unit[state]["initial_output"] = f"base:{init}"
    how += (f"; {dec2}/{state} initial_output base:{init} (tanh linear of a reduce over {src_how})"
            + (f", was {old!r}" if old is not None else ""))
    return new, how


# ----------------------------------------------------------------------------------------------------
# twin-shared-params


def op_twin_shared_params(case: Case, rng: random.Random) -> Result:
    """The two decoders share sub-layers: ``reuse_params`` of the first unit's layers, or of a root layer."""
    new, net = _copy(case)
    tw = _twin(new, net, rng, 0.3)
    if tw is None:
        return None
    rec, dec2, choice, key, key2, dec1_d, dim = tw
    how = _twin_how(rec, dec2, key, key2)
    unit = net[dec2]["unit"]
    params = [k for k in _layers(unit) if k not in (choice, "end")
              and unit[k].get("class") in ("linear", "softmax", "rnn_cell") and "reuse_params" not in unit[k]]
    if not params:
        return None
    k_n = min(len(params), rng.choice([1, 1, 2, 3]))
    shared = sorted(rng.sample(params, k_n))
    form = rng.choices(["path", "map", "root"], [0.5, 0.25, 0.25])[0]
    if form == "root":
        # a root layer holding the shared parameters: a copy of the first decoder's layer, moved to the root
        # on the encoder (its input dim must match), used by both decoders through reuse_params
        name = shared[0]
        desc = unit[name]
        if desc.get("class") == "rnn_cell" or not _sources(desc) or not all(
                s.startswith("base:") for s in _sources(desc)):
            form = "path"
        else:
            holder = _fresh(net, f"shared_{name}")
            net[holder] = {**{k: v for k, v in desc.items() if k in ("class", "activation", "n_out",
                                                                     "with_bias")},
                           "from": [s.removeprefix("base:") for s in _sources(desc) if s.startswith("base:")]}
            if net[holder]["class"] == "softmax":
                net[holder]["class"] = "linear"
                net[holder]["activation"] = "softmax"
            unit[name]["reuse_params"] = f"base:{holder}"
            net[rec]["unit"][name]["reuse_params"] = f"base:{holder}"
            return new, how + f"; {rec}/{name} and {dec2}/{name} reuse_params base:{holder} (a root layer)"
    marked = rng.random() < 0.6  # the fix RETURNN's "only available inside the recurrent loop" asks for
    for name in shared:
        ref = f"base:{rec}/{name}"
        if marked:
            net[rec]["unit"][name]["is_output_layer"] = True
        if form == "map":
            unit[name]["reuse_params"] = {"map": {"W": {"reuse_layer": ref},
                                                  "b": {"reuse_layer": ref} if rng.random() < 0.6 else None}}
        else:
            unit[name]["reuse_params"] = ref
    what = "reuse_params map W/b reuse_layer" if form == "map" else "reuse_params"
    how += f"; {dec2}/{{{', '.join(shared)}}} {what} base:{rec}/<same name>"
    return new, how + (f" (those of {rec} marked output layers)" if marked else "")


FRESH120_OPERATORS: tuple[Op, ...] = (
    Op("twin-root-combine", op_twin_root_combine, 1.2),
    Op("twin-attend-other", op_twin_attend_other, 1.2),
    Op("twin-init-from-other", op_twin_init_from_other, 1.5),
    Op("twin-shared-params", op_twin_shared_params, 0.8),
)
