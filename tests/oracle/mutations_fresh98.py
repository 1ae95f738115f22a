"""A hundredth set of edit operators (issue 15, twenty-first session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: end-of-sequence and length handling in searching decoders: how users write and change the ``end``
layer (several end labels, a latched end that reads its own previous frame), the ``max_seq_len`` expression
of the rec layer (``max_len_from`` with factors, offsets, casts, other layers and data keys, constants),
length models and length penalties before the choice (an EOS score term from a length model, a per-label
length reward), and the choice's ``length_normalization`` option. Sources: the installed RETURNN
``returnn/tf/layers/rec.py`` (``RecLayer.transform_config_dict``'s ``max_len_from`` eval,
``_SubnetworkRecCell.get_output``'s "always logical_or to the prev:end layer" and end-flag / ``dyn_seq_len``
handling, the special ``initial_output`` of ``end`` in ``get_rec_initial_output``, ``RecStepInfoLayer
.get_prev_end_flag``, ``ChoiceLayer.__init__``'s ``length_normalization`` branch with its
``have_rec_step_info`` assertion), RETURNN's tests with ``end`` layers (``test_search_multi_choice``'s
``logical_or`` end), and published set-ups of rwth-i6/returnn-experiments (``max_len_from('base:encoder') * 3``
of the 2018 WMT attention configs, ``length_normalization: False`` of the 2022 scale-tuning configs); the
length reward / length model forms follow Google NMT (Wu et al. 2016), He et al. (2016) word reward and
fairseq's ``max_len_a * src_len + max_len_b``. None is a variant of an earlier operator (the earlier
``end-*`` / ``max-len-*`` / ``min-length-eos`` / ``lennorm-exponent`` ones change other things); no rule was
written for any of them:

* ``end-self-latch``: the ``end`` is made "sticky" by hand, as users wrote it before RETURNN or-ed it with
  ``prev:end`` itself: ``end = logical_or(prev:end, eos_now)`` (a ``combine``, or an ``eval`` of
  ``tf.logical_or``), maybe with an explicit ``initial_output`` (``False``, or a careless ``True``), or, more
  often, a separately named latch ``finished = logical_or(prev:finished, eos_now)`` (or of ``prev:eos_now``,
  one frame late) and ``end = copy(finished)``, the latch maybe an output layer of the loop read at the root
  (``REC/finished``); sometimes ``include_eos: True`` on the rec layer. Targets:
  ``_SubnetworkRecCell.get_output`` (``prev:end`` translated with ``translate_to_this_search_beam``, the
  ``SelectSearchSourcesLayer`` assertion on the previous end, ``dyn_seq_len``, the end layer's choice in
  ``_opt_search_resolve``), the special ``initial_output`` of ``end`` and ``include_eos``'s ``rel_end_layer``.
* ``end-label-set``: the loop ends on any of several labels (EOS and a sentence-final / separator label, or
  every special label at one end of the vocabulary): two or three ``compare`` layers or-ed by a ``combine``
  ``logical_or`` or an ``eval`` of ``tf.logical_or``, or one ``compare`` ``less_equal`` / ``greater_equal``;
  alone or or-ed with the old end, which may compare another choice of the frame. Targets: the end-layer shape / beam checks of
  ``_SubnetworkRecCell.get_output`` (``'end' layer ... unexpected shape``, the end-layer choice in the
  frame's choice sequence), ``CompareLayer`` / ``CombineLayer`` on the beamed sparse label.
* ``max-len-expr``: the rec layer's ``max_seq_len`` written as users write it: ``max_len_from(X) * k``,
  ``+ c``, ``tf.maximum(max_len_from(X), c)``, a float ratio cast back to int32, ``max_len_from('base:data')``
  or the legacy ``'data'``, ``max_len_from('base:data:<target>')`` (copied from a training config), the
  length of another searching decoder's output (two-pass decoding), or a plain constant. Targets:
  ``RecLayer.transform_config_dict``'s ``max_len_from`` (``get_layer`` of a possibly beamed or
  not-available-in-search layer) and the loop condition ``tf.less(i, max_seq_len)``.
* ``eos-length-prior``: an EOS score term from a length model before the choice: a constant EOS penalty,
  a step-dependent one (``:i``), or a penalty on the distance of ``:i`` from an expected length (a root
  ``length`` of the encoder times a ratio, or a learned ``linear`` / ``softplus`` length model on the encoder
  mean), read through ``base:`` and added to the EOS column of the scores (``eval`` of several sources).
  Targets: ``SelectSearchSourcesLayer.select_if_needed`` of the non-beamed ``base:`` length inside the
  frame, ``ChoiceLayer.__init__``'s source checks.
* ``lennorm-vs-reward``: ``length_normalization`` replaced by a per-label length reward (``length_normalization:
  False`` and a reward added to every non-EOS score), a reward added on top of the normalisation, or the
  option flipped on any choice, a root choice after the decoder or a ``search: False`` one included.
  Targets: ``ChoiceLayer.__init__``'s ``length_normalization`` branch (``have_rec_step_info``,
  ``get_prev_end_flag`` with ``target_search_choices``).
"""

from __future__ import annotations

import random
import re
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _recs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH98_SEED = 20270160
N_FRESH98 = 80

Result = "tuple[Case, str] | None"

_MAX_LEN_RE = re.compile(r"max_len_from\(\s*['\"]([^'\"]+)['\"]\s*\)")


# ----------------------------------------------------------------------------------------------------
# Helpers


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _end_choice(unit: dict[str, Any]) -> str | None:
    """The choice the loop's ``end`` compares (directly), if any."""
    end = unit.get("end")
    if not isinstance(end, dict):
        return None
    for s in _sources(end):
        if s in unit and isinstance(unit[s], dict) and unit[s].get("class") == "choice":
            return s
    return None


def _eos(unit: dict[str, Any], choice: str) -> int:
    """The label the loop's ``end`` compares the choice with (default 0)."""
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _scores(unit: dict[str, Any], choice: str) -> tuple[str, str] | None:
    """(the loop layer a choice scores, its input_type) for a one-source prob / log_prob choice."""
    srcs = _sources(unit[choice])
    if len(srcs) != 1 or srcs[0] not in unit or not isinstance(unit[srcs[0]], dict):
        return None
    kind = unit[choice].get("input_type", "prob")
    if kind not in ("prob", "log_prob"):
        return None
    return srcs[0], kind


def _rename_end(unit: dict[str, Any], base: str) -> str:
    """Move the loop's ``end`` to a fresh name; this-frame references to it follow (``prev:end`` stays)."""
    old = _fresh(unit, base)
    unit[old] = unit.pop("end")
    for k in _layers(unit):
        if k != old:
            _map_refs(unit[k], lambda r: old if r == "end" else r)
    return old


def _time_source(net: dict[str, Any], rec: str) -> str:
    """A root layer with a time axis the decoder's length follows: the one its ``max_seq_len`` names,
    else a ``base:`` layer of the unit that is not a reduce, else ``data``."""
    msl = net[rec].get("max_seq_len")
    if isinstance(msl, str):
        m = _MAX_LEN_RE.search(msl)
        if m:
            name = m.group(1).removeprefix("base:")
            if name in net and isinstance(net[name], dict):
                return name
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for s in _sources(desc):
                if s.startswith("base:"):
                    name = s[len("base:"):].split("/", 1)[0]
                    if (name in net and isinstance(net[name], dict)
                            and net[name].get("class") not in ("rec", "reduce", "constant", "variable")):
                        found.append(name)
    return min(found) if found else "data"


def _eos_onehot(eos: int, dim: int) -> str:
    return f"tf.one_hot({eos}, {dim})"


# ----------------------------------------------------------------------------------------------------
# end-self-latch


def op_end_self_latch(case: Case, rng: random.Random) -> Result:
    """The ``end`` latched by hand: or-ed with ``prev:end`` (or with its own named latch)."""
    new, net = _copy(case)
    sites = [r for r in _recs(net) if isinstance(net[r]["unit"].get("end"), dict)
             and _unit_choices(net[r]["unit"])]
    if not sites:
        return None
    rec = rng.choice(sites)
    unit = net[rec]["unit"]
    now = _rename_end(unit, "eos_now")
    form = rng.choices(["combine", "eval", "combine-init", "named-latch", "late-latch"],
                       [0.1, 0.05, 0.05, 0.5, 0.3])[0]
    if form == "combine":
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": ["prev:end", now]}
        how = f"end = combine logical_or(prev:end, {now})"
    elif form == "eval":
        unit["end"] = {"class": "eval", "from": ["prev:end", now], "eval": "tf.logical_or(source(0), source(1))"}
        how = f"end = eval tf.logical_or(prev:end, {now})"
    elif form == "combine-init":
        init = rng.choices([False, True], [0.7, 0.3])[0]
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [now, "prev:end"], "initial_output": init}
        how = f"end = combine logical_or({now}, prev:end), initial_output {init}"
    else:
        latch = _fresh(unit, "finished")
        late = form == "late-latch"
        flag = f"prev:{now}" if late else now
        init = rng.choices([False, True], [0.85, 0.15])[0]
        unit[latch] = {"class": "combine", "kind": "logical_or", "from": [f"prev:{latch}", flag],
                       "initial_output": init}
        if late:
            unit[now]["initial_output"] = False
        unit["end"] = {"class": "copy", "from": latch}
        how = f"{latch} = logical_or(prev:{latch}, {flag}) (initial_output {init}), end = copy({latch})"
        if late:
            how += f" (one frame late; {now} gets initial_output False)"
        mode = rng.choices(["none", "output", "root"], [0.6, 0.2, 0.2])[0]
        if mode != "none":
            unit[latch]["is_output_layer"] = True
            how += f"; {latch} an output layer of the loop"
        if mode == "root":
            out = _fresh(net, f"{rec}_finished")
            net[out] = {"class": "copy", "from": f"{rec}/{latch}", "is_output_layer": True}
            how += f", read at the root by {out} = copy({rec}/{latch})"
    if rng.random() < 0.2:
        net[rec]["include_eos"] = True
        how += "; include_eos True on the rec layer"
    return new, f"{rec}: old end renamed {now}; {how}"


# ----------------------------------------------------------------------------------------------------
# end-label-set


def op_end_label_set(case: Case, rng: random.Random) -> Result:
    """The loop ends on any of several labels."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        if not isinstance(unit.get("end"), dict):
            continue
        for c in _label_choices(unit):
            dim = _target_dim(case, _data_target(unit[c]))
            if isinstance(dim, int) and dim >= 3:
                sites.append((r, c, dim))
    if not sites:
        return None
    rec, choice, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    cur = _end_choice(unit)
    if cur is not None and cur != choice and rng.random() < 0.6:
        choice = cur
        dim = _target_dim(case, _data_target(unit[choice])) or dim
    eos = _eos(unit, cur or choice)
    others = [k for k in (1, 2, dim - 1) if k != eos and 0 <= k < dim]
    extra = rng.choice(others)
    labels = sorted({eos, extra})
    keep_old = rng.random() < 0.25
    old = _rename_end(unit, "end_old") if keep_old else None
    if old is None:
        unit.pop("end")
    form = rng.choices(["compare-or", "eval-or", "three-labels", "less-equal", "greater-equal"],
                       [0.25, 0.2, 0.2, 0.2, 0.15])[0]
    if form in ("compare-or", "eval-or", "three-labels"):
        thirds = [k for k in (1, 2, 3, dim - 1, dim - 2) if k not in labels and 0 <= k < dim]
        if form == "three-labels" and thirds:
            labels = sorted({*labels, rng.choice(thirds)})
        flags = []
        for lab, base in zip(labels, ("is_eos", "is_sent_end", "is_sep")):
            f = _fresh(unit, base)
            unit[f] = {"class": "compare", "kind": "equal", "from": choice, "value": lab}
            flags.append(f)
        cond = _fresh(unit, "label_end")
        if form == "eval-or":
            unit[cond] = {"class": "eval", "from": flags, "eval": "tf.logical_or(source(0), source(1))"}
            how = f"{cond} = eval tf.logical_or({choice} == {labels[0]}, {choice} == {labels[1]})"
        else:
            unit[cond] = {"class": "combine", "kind": "logical_or", "from": flags}
            how = f"{cond} = logical_or of {choice} == each of {labels}"
    elif form == "less-equal":
        k = max(labels) if max(labels) < dim - 1 else rng.choice([1, 2])
        cond = _fresh(unit, "label_end")
        unit[cond] = {"class": "compare", "kind": "less_equal", "from": choice, "value": k}
        how = f"{cond} = {choice} <= {k} (the special labels at the bottom of the vocabulary)"
    else:
        k = dim - rng.choice([1, 2])
        cond = _fresh(unit, "label_end")
        unit[cond] = {"class": "compare", "kind": "greater_equal", "from": choice, "value": k}
        how = f"{cond} = {choice} >= {k} (the special labels at the top of the vocabulary)"
    if old is not None:
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, cond]}
        how += f"; end = logical_or({old}, {cond})"
    else:
        unit["end"] = {"class": "copy", "from": cond}
        how += "; end = copy of it (old end dropped)"
    return new, f"{rec}: {how}"


# ----------------------------------------------------------------------------------------------------
# max-len-expr


def op_max_len_expr(case: Case, rng: random.Random) -> Result:
    """The rec layer's ``max_seq_len`` rewritten as an expression."""
    new, net = _copy(case)
    sites = [r for r in _searching_recs(net) if isinstance(net[r]["unit"].get("end"), dict)]
    if not sites:
        return None
    rec = rng.choice(sites)
    src = _time_source(net, rec)
    ref = "data" if src == "data" else f"base:{src}"
    if ref == "data" and rng.random() < 0.5:
        ref = "base:data"
    forms = {"mul": 0.2, "add": 0.15, "max": 0.1, "ratio": 0.15, "data": 0.1, "target": 0.06, "const": 0.08}
    targets = [t for t in (_data_target(net[rec]["unit"][c]) for c in _unit_choices(net[rec]["unit"]))
               if t is not None]
    if not targets:
        forms.pop("target")
    others = [r for r in _searching_recs(net) if r != rec and rec not in _root_ancestors(net, r)
              and r not in _root_ancestors(net, rec)]
    if others:
        forms["other-decoder"] = 0.2
    form = rng.choices(list(forms), list(forms.values()))[0]
    if form == "mul":
        expr = f"max_len_from('{ref}') * {rng.choice([2, 3])}"
    elif form == "add":
        expr = f"max_len_from('{ref}') + {rng.choice([2, 5, 10])}"
    elif form == "max":
        expr = f"tf.maximum(max_len_from('{ref}'), {rng.choice([5, 20])})"
    elif form == "ratio":
        r = rng.choice([0.5, 1.5, 2.5])
        expr = f"tf.cast(tf.cast(max_len_from('{ref}'), tf.float32) * {r}, tf.int32)"
    elif form == "data":
        expr = rng.choice(["max_len_from('base:data')", "max_len_from('data')",
                           "max_len_from('base:data') * 2"])
    elif form == "target":
        expr = f"max_len_from('base:data:{rng.choice(targets)}')"
    elif form == "other-decoder":
        other = rng.choice(others)
        expr = rng.choice([f"max_len_from('base:{other}')", f"max_len_from('base:{other}') * 2 + 1"])
    else:
        expr = rng.choice([20, 50, 100])
    old = net[rec].get("max_seq_len")
    if old == expr:
        return None
    net[rec]["max_seq_len"] = expr
    return new, f"{rec}: max_seq_len {old!r} -> {expr!r}"


# ----------------------------------------------------------------------------------------------------
# eos-length-prior


def _expected_length(net: dict[str, Any], rec: str, rng: random.Random) -> tuple[str, str]:
    """A root float (batch,) layer with the expected output length; (name, description)."""
    src = _time_source(net, rec)
    if rng.random() < 0.6:
        length = _fresh(net, f"{src}_len")
        net[length] = {"class": "length", "from": src}
        length_f = _fresh(net, f"{src}_len_float")
        net[length_f] = {"class": "cast", "from": length, "dtype": "float32"}
        r = rng.choice([0.3, 0.5, 1.0])
        exp = _fresh(net, "expected_len")
        net[exp] = {"class": "eval", "from": length_f, "eval": f"source(0) * {r}"}
        return exp, f"{r} * length of {src}"
    mean = _fresh(net, f"{src}_mean")
    net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": src}
    pred = _fresh(net, "len_model")
    net[pred] = {"class": "linear", "activation": "softplus", "from": mean, "n_out": 1}
    exp = _fresh(net, "expected_len")
    net[exp] = {"class": "squeeze", "axis": "F", "from": pred}
    return exp, f"a softplus linear length model on the mean of {src}"


def op_eos_length_prior(case: Case, rng: random.Random) -> Result:
    """An EOS score term from a length model added to the scores before the choice."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            dim = _target_dim(case, _data_target(unit[c]))
            if _scores(unit, c) is not None and isinstance(dim, int):
                sites.append((r, c, dim))
    if not sites:
        return None
    rec, choice, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    scores, kind = _scores(unit, choice)
    eos = _eos(unit, choice)
    form = rng.choices(["const", "step", "expected"], [0.25, 0.3, 0.45])[0]
    onehot = _eos_onehot(eos, dim)
    alpha = rng.choice([0.5, 1.0, 2.0])
    if form == "const":
        c = rng.choice([0.5, 1.0, 3.0])
        new_scores = _fresh(unit, f"{scores}_eos_pen")
        if kind == "log_prob":
            expr = f"source(0) - {c} * {onehot}"
        else:
            expr = f"source(0) * tf.exp(-{c} * {onehot})"
        unit[new_scores] = {"class": "eval", "from": scores, "eval": expr}
        how = f"{new_scores} = {scores} with EOS {eos} penalised by {c} ({kind})"
    else:
        i_f = _fresh(unit, "step_float")
        unit[i_f] = {"class": "cast", "from": ":i", "dtype": "float32"}
        term = _fresh(unit, "eos_len_term")
        if form == "step":
            unit[term] = {"class": "eval", "from": i_f, "eval": f"-{alpha} / (source(0) + 1.)"}
            how = f"{term} = -{alpha} / (:i + 1)"
        else:
            exp, exp_how = _expected_length(net, rec, rng)
            if rng.random() < 0.5:
                unit[term] = {"class": "eval", "from": [f"base:{exp}", i_f],
                              "eval": f"-{alpha} * tf.abs(1. - source(1) / tf.maximum(source(0), 1.))"}
            else:
                ratio = _fresh(unit, "len_ratio")
                unit[ratio] = {"class": "combine", "kind": "truediv", "from": [i_f, f"base:{exp}"]}
                unit[term] = {"class": "eval", "from": ratio, "eval": f"-{alpha} * tf.abs(1. - source(0))"}
            how = f"{term} = -{alpha} * |1 - :i / base:{exp}| (expected length: {exp_how})"
        new_scores = _fresh(unit, f"{scores}_len_prior")
        if kind == "log_prob":
            expr = f"source(0) + source(1) * {onehot}"
        else:
            expr = f"source(0) * tf.exp(source(1) * {onehot})"
        unit[new_scores] = {"class": "eval", "from": [scores, term], "eval": expr}
        how += f"; {new_scores} = {scores} with {term} on EOS {eos} ({kind})"
    unit[choice]["from"] = new_scores
    return new, f"{rec}: {how}; {choice} chooses over {new_scores}"


# ----------------------------------------------------------------------------------------------------
# lennorm-vs-reward


def op_lennorm_vs_reward(case: Case, rng: random.Random) -> Result:
    """Length normalisation replaced by (or topped with) a length reward, or flipped on a choice."""
    new, net = _copy(case)
    reward_sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            dim = _target_dim(case, _data_target(unit[c]))
            if _scores(unit, c) is not None and isinstance(dim, int):
                reward_sites.append((r, c, dim))
    flip_sites: list[tuple[str | None, str]] = []
    for k in _layers(net):
        if net[k].get("class") == "choice" and net[k].get("input_type") != "regression":
            flip_sites.append((None, k))
    for r in _recs(net):
        unit = net[r]["unit"]
        flip_sites.extend((r, c) for c in _unit_choices(unit) if unit[c].get("input_type") != "regression")
    forms = {}
    if reward_sites:
        forms["reward-off"] = 0.45
        forms["reward-keep"] = 0.2
    if flip_sites:
        forms["flip"] = 0.35
    if not forms:
        return None
    form = rng.choices(list(forms), list(forms.values()))[0]
    if form == "flip":
        off = [s for s in flip_sites
               if (net[s[1]] if s[0] is None else net[s[0]]["unit"][s[1]]).get("length_normalization") is False]
        rec, choice = rng.choice(off) if off and rng.random() < 0.7 else rng.choice(flip_sites)
        desc = net[choice] if rec is None else net[rec]["unit"][choice]
        old = desc.get("length_normalization", True)
        desc["length_normalization"] = not old
        where = choice if rec is None else f"{rec}/{choice}"
        return new, f"{where}: length_normalization {old} -> {not old}"
    rec, choice, dim = rng.choice(reward_sites)
    unit = net[rec]["unit"]
    scores, kind = _scores(unit, choice)
    eos = _eos(unit, choice)
    r = rng.choice([0.1, 0.2, 0.5, 1.0])
    new_scores = _fresh(unit, f"{scores}_len_reward")
    non_eos = f"(1. - {_eos_onehot(eos, dim)})"
    if kind == "log_prob":
        expr = f"source(0) + {r} * {non_eos}"
    else:
        expr = f"source(0) * tf.exp({r} * {non_eos})"
    unit[new_scores] = {"class": "eval", "from": scores, "eval": expr}
    unit[choice]["from"] = new_scores
    how = f"{rec}: {new_scores} = {scores} + reward {r} on every label but EOS {eos} ({kind}); {choice} reads it"
    if form == "reward-off":
        old = unit[choice].get("length_normalization", True)
        unit[choice]["length_normalization"] = False
        how += f"; length_normalization {old} -> False"
    return new, how


FRESH98_OPERATORS: tuple[Op, ...] = (
    Op("end-self-latch", op_end_self_latch, 1),
    Op("end-label-set", op_end_label_set, 1),
    Op("max-len-expr", op_max_len_expr, 1),
    Op("eos-length-prior", op_eos_length_prior, 1),
    Op("lennorm-vs-reward", op_lennorm_vs_reward, 0.8),
)
