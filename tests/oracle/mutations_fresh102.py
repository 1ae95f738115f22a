"""A hundred-and-fourth set of edit operators (issue 15, twenty-second session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

AREA: forced and constrained decoding, the ways users restrict or force what a searching decoder may choose,
put onto the bases' searching decoders (none a variant of an earlier operator; no rule was written for any of
them). Sources: ``ChoiceLayer`` in the installed ``returnn/tf/layers/rec.py`` (its ``cheating`` option,
``_get_cheating_targets_and_src_beam_idxs`` and its target handling through ``_static_get_target_value``), the
rec layer's ``size_target`` and its ``fixed_seq_len`` logic in ``_SubnetworkRecCell.get_output``, ``GatherLayer``
(``clip_to_valid``, batch-less tables gathered by beamed positions), ``SwitchLayer`` / ``CompareLayer`` /
``EvalLayer`` of ``returnn/tf/layers/basic.py``, ``VariableLayer`` (``returnn/tf/layers/variable.py``, a
non-trainable table with a ``constant_initializer`` init), the RNA / transducer configs of
rwth-i6/returnn-experiments ``2020-rnn-transducer`` and of rwth-i6/i6_experiments ``users/zeyer`` (``"cheating":
"exclusive" if task == "train" else None`` on the label choice, alignments as their own extern data), and the
prefix-forcing / vocabulary-restriction / lexical-prefix-tree constraints users write by hand in RETURNN
decoders (there is no built-in option for them):

* ``align-cheat-choice``: forced-alignment (Viterbi) decoding with the ground truth kept in the beam, as the
  transducer configs write it: a loop choice gets ``cheating`` ``True`` or ``"exclusive"``; most of the time its
  ``target`` moves to a new sparse extern-data key ``align`` (the vocabulary of the old target; available for
  inference, or, as when the declaration is copied from the target, not); maybe ``length_normalization: False``;
  where the frame has further choices, sometimes all of them cheat; sometimes the rec layer gets ``size_target``
  (the decoding runs exactly as long as the alignment / reference, the ``end`` layer maybe removed). Now and
  then the site is a regression choice or a choice over several targets. Targets: ``ChoiceLayer.__init__``
  (``assert not cheating`` of regression choices), ``_get_cheating_targets_and_src_beam_idxs`` (one source only;
  a choice whose beam comes from another, non-cheating choice of the frame: "Expected that this is self from
  prev frame"), ``get_out_data_from_opts`` marking the cheating target as used (a target not available in
  search), and the ``size_target`` / ``fixed_seq_len`` branch of ``_SubnetworkRecCell.get_output``.
* ``prefix-switch-forcing``: a given prefix forced for the first frames of the search: the prefix comes as a
  new sparse extern-data key (available for inference, or declared like the target and not), or the user takes
  the target key itself; the prefix label of the frame is a ``gather`` (``clip_to_valid``) of ``base:data:KEY``
  at ``:i`` (or at a hand-made counter of emitted non-EOS labels); "still in the prefix" is a ``compare`` of
  ``:i`` (or the counter) with a root ``length`` of the prefix, or ``:i`` below a constant K. The forcing is on
  the scores (a ``switch`` / ``eval`` ``tf.where`` between a one-hot of the prefix label shaped like the scores,
  an ``eval`` of [scores, prefix label], in prob or log-prob space, and the old scores, which the choice then
  reads) or on the label (a ``switch`` between the prefix label and the choice, mostly with ``initial_output``
  0, read as ``prev:`` by the layers that read the choice's previous label). Targets:
  ``SearchChoices.translate_to_common_search_beam`` / ``SelectSearchSourcesLayer.select_if_needed`` on the
  ``condition`` / ``true_from`` / ``false_from`` of ``SwitchLayer`` where batch-only (no beam) root values meet
  beamed loop values, the choice's source checks (dense, shape ``(dim,)``, the beam of its source), the
  prev-frame search-choice resolution of ``prev:`` layers that are not choices, and the extern data of the
  target read in search.
* ``allowed-vocab-scores``: a vocabulary restriction applied to the scores before the choice: the allowed set
  a literal table inside an ``eval`` (or, for large vocabularies, a few banned label ids), a root
  non-trainable ``variable`` [V] with a ``constant_initializer`` init, or a new extern-data key (a dense per-sequence mask with no time axis, available for inference or not,
  or a per-position mask with a time axis gathered at ``:i``), applied as a ``switch`` on ``mask > 0.5``, a
  ``combine`` ``mul`` (maybe renormalised), or by adding a large negative (``eval`` / ``combine`` ``add``), the
  mask read through ``base:`` or through a loop ``copy`` of it. Targets: the beam expansion of batch-only root
  values in the loop (``Data.copy_extend_with_beam`` via ``get_common_data`` / ``copy_compatible_to``), the
  choice's source checks and the availability of extern data in search.
* ``fsa-state-gather``: a lexical / grammar constraint carried as loop state: a finite-state automaton (or
  prefix tree) with S states and two tables, ``next[S][V]`` (inline in the state's ``eval``, a ``tf.gather`` at
  ``prev:state * V + label``) and ``allowed[S][V]`` (a batch-less root non-trainable ``variable`` read by a
  ``gather`` layer on ``dim:S`` at the state), or (large vocabularies, and now and then anyway) both as ``eval``
  formulas; the state is a sparse (dim S) loop layer with ``initial_output`` 0, updated from the frame's choice
  (the mask then read at ``prev:`` of the state) or one frame late from ``prev:CHOICE`` (the mask read at the
  state of the frame); the allowed row masks the scores the choice reads (``combine`` ``mul``, a large negative
  added, or a ``switch`` on ``allowed > 0.5``);
  sometimes the ``end`` also asks for the start / accepting state, or the state is an output layer of the loop
  read at the root by a ``decide`` or a plain ``copy``. Targets: ``GatherLayer`` with beamed positions into a
  batch-less table (``_get_common_input_position_axes``), the search-choice resolution of a loop state that
  depends on the frame's choice and on ``prev:`` of itself (``_TemplateLayer.get_search_choices``,
  ``TFNetwork._get_all_search_choices``), the end-layer checks of ``_SubnetworkRecCell.get_output`` and, at the
  root, ``DecideLayer`` / beamed loop outputs.
"""

from __future__ import annotations

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
FRESH102_SEED = 20270164
N_FRESH102 = 80

Result = "tuple[Case, str] | None"
#: vocabularies up to this size get literal tables; larger ones formulas
SMALL_VOCAB = 48
NEG = -1e30


# ----------------------------------------------------------------------------------------------------
# Helpers


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
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


def _sites(case: Case, net: dict[str, Any]) -> list[tuple[str, str, str, str, str, int]]:
    """(rec, choice, scores layer, input_type, target key, vocabulary size) of the label choices of the
    searching loops whose scores are one dense loop layer."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for choice in _unit_choices(unit):
            desc = unit[choice]
            if desc.get("input_type") == "regression" or desc.get("search") is False:
                continue
            key = _data_target(desc)
            dim = _target_dim(case, key)
            sc = _scores(unit, choice)
            if key is None or not isinstance(dim, int) or sc is None:
                continue
            out.append((rec, choice, sc[0], sc[1], key, dim))
    return out


def _add_key(new: Case, base: str, spec: dict[str, Any]) -> str:
    """Declare a new data key (in ``extern_data``, or in ``num_outputs`` as a dict where the case has no
    ``extern_data``) under a fresh name; return the name."""
    taken = set(new.get("extern_data") or {}) | set(new.get("num_outputs") or {})
    name = _fresh(taken, base)
    if isinstance(new.get("extern_data"), dict):
        new["extern_data"][name] = spec
    else:
        new.setdefault("num_outputs", {})[name] = spec
    return name


def _redirect_from(unit: dict[str, Any], old: str, new: str, skip: set[str]) -> list[str]:
    """Let the unit layers (not those in ``skip``) that read ``old`` in ``from`` read ``new``."""
    changed = []
    for k in _layers(unit):
        if k in skip:
            continue
        value = unit[k].get("from")
        if value == old:
            unit[k]["from"] = new
            changed.append(k)
        elif isinstance(value, list) and old in value:
            unit[k]["from"] = [new if v == old else v for v in value]
            changed.append(k)
    return changed


def _rename_end(unit: dict[str, Any]) -> str:
    """Move the loop's ``end`` layer to a fresh name (``from`` references follow); return the new name."""
    old = _fresh(unit, "end_label")
    unit[old] = unit.pop("end")
    _redirect_from(unit, "end", old, {old})
    return old


def _mask_list(dim: int, eos: int, rng: random.Random) -> list[float]:
    """A 0/1 list over the vocabulary: about two thirds allowed, EOS mostly among them."""
    keep = set(rng.sample(range(dim), max(2, (2 * dim) // 3)))
    if rng.random() < 0.85:
        keep.add(eos)
    return [1.0 if v in keep else 0.0 for v in range(dim)]


# ----------------------------------------------------------------------------------------------------
# align-cheat-choice


def op_align_cheat_choice(case: Case, rng: random.Random) -> Result:
    """Forced-alignment decoding: a choice cheats (ground truth in the beam) against an alignment key."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _unit_choices(unit):
            d = unit[c]
            plain = isinstance(d.get("target"), str) and d.get("input_type") != "regression"
            sites.append((r, c, 1.0 if plain else 0.3))
    if not sites:
        return None
    rec, choice, _ = rng.choices(sites, [w for *_, w in sites])[0]
    unit = net[rec]["unit"]
    desc = unit[choice]
    cheat: Any = rng.choice([True, "exclusive", "exclusive"])
    how = [f"{rec}/{choice}: cheating {cheat!r}"]
    key = _data_target(desc)
    dim = _target_dim(case, key)
    plain = isinstance(desc.get("target"), str) and desc.get("input_type") != "regression"
    if plain and isinstance(dim, int) and rng.random() < 0.6:
        avail = rng.random() < 0.7
        align = _add_key(new, "align", {"dim": dim, "sparse": True, "available_for_inference": avail})
        desc["target"] = align
        how.append(f"target {key!r} -> new extern data {align!r} (sparse, dim {dim}, "
                   f"available_for_inference {avail})")
        key = align
    desc["cheating"] = cheat
    if rng.random() < 0.4:
        desc["length_normalization"] = False
        how.append("length_normalization False")
    others = [c for c in _unit_choices(unit) if c != choice and unit[c].get("search", True) is not False]
    if others and rng.random() < 0.4:
        for c in others:
            unit[c]["cheating"] = cheat
        how.append(f"also cheating {', '.join(others)}")
    if key is not None and rng.random() < 0.35:
        net[rec]["size_target"] = key
        how.append(f"{rec} size_target {key!r}")
        if isinstance(unit.get("end"), dict) and not _readers(unit, "end") and rng.random() < 0.5:
            del unit["end"]
            how.append("end layer removed")
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# prefix-switch-forcing


def op_prefix_switch_forcing(case: Case, rng: random.Random) -> Result:
    """A prefix forced for the first frames of the search (on the scores or on the fed-back label)."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, choice, scores, kind, key, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    src = rng.choices(["extern", "target", "unavail"], [0.6, 0.2, 0.2])[0]
    if src == "target":
        pk = key
        how = [f"{rec}: prefix = the target {key!r}"]
    else:
        avail = src == "extern"
        pk = _add_key(new, "prefix", {"dim": dim, "sparse": True, "available_for_inference": avail})
        how = [f"{rec}: prefix = new extern data {pk!r} (sparse, dim {dim}, available_for_inference {avail})"]
    cond_kind = rng.choices(["length", "const", "counter"], [0.5, 0.25, 0.25])[0]
    in_prefix = _fresh(unit, "in_prefix")
    pos = ":i"
    if cond_kind == "const":
        k = rng.choice([1, 2, 3])
        unit[in_prefix] = {"class": "compare", "kind": "less", "from": ":i", "value": k}
        how.append(f"{in_prefix} = :i < {k}")
    else:
        plen = _fresh(net, f"{pk}_len")
        net[plen] = {"class": "length", "from": f"data:{pk}"}
        if cond_kind == "length":
            unit[in_prefix] = {"class": "compare", "kind": "less", "from": [":i", f"base:{plen}"]}
            how.append(f"{in_prefix} = :i < base:{plen} (root length of data:{pk})")
        else:
            is_lab = _fresh(unit, "emitted_label")
            unit[is_lab] = {"class": "compare", "kind": "not_equal", "from": f"prev:{choice}", "value": eos}
            is_lab_i = _fresh(unit, "emitted_label_int")
            unit[is_lab_i] = {"class": "cast", "from": is_lab, "dtype": "int32"}
            cnt = _fresh(unit, "n_emitted")
            unit[cnt] = {"class": "combine", "kind": "add", "from": [f"prev:{cnt}", is_lab_i], "initial_output": 0}
            unit[in_prefix] = {"class": "compare", "kind": "less", "from": [cnt, f"base:{plen}"]}
            pos = cnt
            how.append(f"{cnt} = prev:{cnt} + (prev:{choice} != {eos}); {in_prefix} = {cnt} < base:{plen}")
    plab = _fresh(unit, "prefix_label")
    unit[plab] = {"class": "gather", "from": f"base:data:{pk}", "position": pos, "axis": "T", "clip_to_valid": True}
    how.append(f"{plab} = gather(base:data:{pk}, position {pos}, clip_to_valid)")
    readers = [k for k in _readers(unit, choice, f"prev:{choice}")
               if k not in ("end", choice) and f"prev:{choice}" in _sources(unit[k])]
    mode = rng.choices(["scores", "label"], [0.6, 0.4])[0]
    if mode == "label" and not readers:
        mode = "scores"
    if mode == "label":
        forced = _fresh(unit, f"{choice}_forced")
        unit[forced] = {"class": "switch", "condition": in_prefix, "true_from": plab, "false_from": choice}
        if rng.random() < 0.75:
            unit[forced]["initial_output"] = 0
            how.append(f"{forced} initial_output 0")
        for k in readers:
            _redirect_from(unit, f"prev:{choice}", f"prev:{forced}", set(_layers(unit)) - {k})
        if rng.random() < 0.25:
            unit[forced]["is_output_layer"] = True
            how.append(f"{forced} an output layer")
        how.append(f"{forced} = switch({in_prefix}, {plab}, {choice}); {', '.join(readers)} read "
                   f"prev:{forced} instead of prev:{choice}")
        return new, "; ".join(how)
    on, off = ("tf.ones_like(source(0))", "tf.zeros_like(source(0))") if kind == "prob" else \
        ("tf.zeros_like(source(0))", f"tf.fill(tf.shape(source(0)), {NEG})")
    onehot = _fresh(unit, "prefix_scores")
    unit[onehot] = {"class": "eval", "from": [scores, plab],
                    "eval": f"tf.where(tf.equal(tf.range({dim})[None, :], tf.cast(source(1), tf.int32)), {on}, {off})"}
    masked = _fresh(unit, f"{scores}_forced")
    if rng.random() < 0.65:
        unit[masked] = {"class": "switch", "condition": in_prefix, "true_from": onehot, "false_from": scores}
        how.append(f"{masked} = switch({in_prefix}, {onehot}, {scores})")
    else:
        unit[masked] = {"class": "eval", "from": [in_prefix, onehot, scores],
                        "eval": "tf.where(source(0), source(1), source(2))"}
        how.append(f"{masked} = eval tf.where({in_prefix}, {onehot}, {scores})")
    unit[choice]["from"] = masked
    how.append(f"{onehot} = one-hot of {plab} shaped like {scores} ({kind} space); {choice} chooses over {masked}")
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# allowed-vocab-scores


def op_allowed_vocab_scores(case: Case, rng: random.Random) -> Result:
    """A vocabulary restriction (table, constant, or extern-data mask) applied to the scores before the choice."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, choice, scores, kind, _key, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    small = dim <= SMALL_VOCAB
    src = rng.choices(["inline", "const", "data", "unavail", "per_pos"], [0.25, 0.25, 0.3, 0.1, 0.1])[0]
    masked = _fresh(unit, f"{scores}_restricted")
    if src == "inline":
        if small:
            mask = _mask_list(dim, eos, rng)
            if kind == "prob":
                expr = f"source(0) * tf.constant({mask})"
            else:
                expr = f"source(0) + tf.constant({[0.0 if m else NEG for m in mask]})"
            what = f"allowed table {mask}"
        else:
            banned = sorted(rng.sample([v for v in range(1, dim) if v != eos], rng.choice([1, 2, 3])))
            ban = f"tf.reduce_max(tf.one_hot({banned}, {dim}), axis=0)"
            expr = f"source(0) * (1. - {ban})" if kind == "prob" else f"source(0) + {NEG} * {ban}"
            what = f"labels {banned} banned"
        unit[masked] = {"class": "eval", "from": scores, "eval": expr}
        unit[choice]["from"] = masked
        return new, f"{rec}: {masked} = eval of {scores} ({kind}) with an inline {what}; {choice} reads it"
    if src == "const":
        name = _fresh(net, "vocab_allowed")
        if small:
            mask = _mask_list(dim, eos, rng)
            init = f"constant_initializer(value={mask})"
        else:
            banned = sorted(rng.sample([v for v in range(1, dim) if v != eos], rng.choice([1, 2, 3])))
            init = f"constant_initializer(value=1. - numpy.isin(numpy.arange({dim}), {banned}).astype('float32'))"
        net[name] = {"class": "variable", "shape": [dim], "init": init, "trainable": False}
        how = [f"{rec}: root {name} = non-trainable variable [{dim}], init {init!r}"]
        ref = f"base:{name}"
    else:
        avail = src != "unavail"
        shape: list[Any] = [None, dim] if src == "per_pos" else [dim]
        spec = {"shape": shape, "dim": dim, "available_for_inference": avail}
        if src != "per_pos":
            spec["time_dim_axis"] = None
        name = _add_key(new, "vocab_allowed", spec)
        how = [f"{rec}: mask = new extern data {name!r} (dense, shape {shape}, available_for_inference {avail})"]
        ref = f"base:data:{name}"
        if src == "per_pos":
            step = _fresh(unit, "vocab_allowed_step")
            unit[step] = {"class": "gather", "from": ref, "position": ":i", "axis": "T", "clip_to_valid": True}
            how.append(f"{step} = gather({ref}, position :i, clip_to_valid)")
            ref = step
    if ref.startswith("base:") and rng.random() < 0.3:
        local = _fresh(unit, "vocab_mask")
        unit[local] = {"class": "copy", "from": ref}
        how.append(f"loop {local} = copy of {ref}")
        ref = local
    apply = rng.choices(["switch", "arith", "eval2"], [0.35, 0.4, 0.25])[0]
    if apply == "switch":
        ok = _fresh(unit, "vocab_ok")
        unit[ok] = {"class": "compare", "kind": "greater", "from": ref, "value": 0.5}
        off = 0.0 if kind == "prob" else NEG
        unit[masked] = {"class": "switch", "condition": ok, "true_from": scores, "false_from": off}
        how.append(f"{ok} = {ref} > 0.5; {masked} = switch({ok}, {scores}, {off})")
    elif apply == "arith":
        if kind == "prob":
            unit[masked] = {"class": "combine", "kind": "mul", "from": [scores, ref]}
            how.append(f"{masked} = combine mul({scores}, {ref})")
        else:
            bias = _fresh(unit, "vocab_bias")
            unit[bias] = {"class": "eval", "from": ref, "eval": f"(1. - source(0)) * {NEG}"}
            unit[masked] = {"class": "combine", "kind": "add", "from": [scores, bias]}
            how.append(f"{bias} = (1 - {ref}) * {NEG}; {masked} = combine add({scores}, {bias})")
    else:
        expr = "source(0) * source(1)" if kind == "prob" else f"source(0) + (1. - source(1)) * {NEG}"
        unit[masked] = {"class": "eval", "from": [scores, ref], "eval": expr}
        how.append(f"{masked} = eval {expr!r} of [{scores}, {ref}]")
    final = masked
    if kind == "prob" and apply != "switch" and rng.random() < 0.4:
        final = _fresh(unit, f"{scores}_renorm")
        unit[final] = {"class": "eval", "from": masked,
                       "eval": "source(0) / tf.reduce_sum(source(0), axis=-1, keepdims=True)"}
        how.append(f"{final} renormalises it")
    unit[choice]["from"] = final
    how.append(f"{choice} ({kind}) reads {final}")
    return new, "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# fsa-state-gather


def op_fsa_state_gather(case: Case, rng: random.Random) -> Result:
    """A grammar / prefix-tree state carried in the loop, updated from the chosen label, masking the scores."""
    new, net = _copy(case)
    sites = _sites(new, net)
    if not sites:
        return None
    rec, choice, scores, kind, _key, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    eos = _eos(unit, choice)
    n_states = rng.choice([s for s in (3, 4, 5, 6) if s != dim])
    what = rng.choice(["FSA", "lexical prefix tree"])
    late = rng.random() < 0.3
    label = f"prev:{choice}" if late else choice
    state = _fresh(unit, "fsa_state")
    allowed = _fresh(unit, "fsa_allowed")
    table = dim <= SMALL_VOCAB and rng.random() < 0.75
    if table:
        nxt = [[rng.randrange(n_states) for _ in range(dim)] for _ in range(n_states)]
        allow = []
        for s in range(n_states):
            row = _mask_list(dim, eos, rng)
            if s == 0:
                row[eos] = 1.0
            allow.append(row)
        t_allow = _fresh(net, "fsa_allow")
        flat = [x for row in nxt for x in row]
        net[t_allow] = {"class": "variable", "shape": [n_states, dim], "trainable": False,
                        "init": f"constant_initializer(value={allow})"}
        unit[state] = {"class": "eval", "from": [label, f"prev:{state}"],
                       "eval": f"tf.gather(tf.constant({flat}, dtype=tf.int32), "
                               f"tf.cast(source(1, auto_convert=False), tf.int32) * {dim} + "
                               f"tf.cast(source(0, auto_convert=False), tf.int32))",
                       "out_type": {"dtype": "int32", "sparse": True, "dim": n_states},
                       "initial_output": 0}
        at = state if late else f"prev:{state}"
        unit[allowed] = {"class": "gather", "from": f"base:{t_allow}", "position": at, "axis": f"dim:{n_states}"}
        how = [(f"{rec}: {what} with {n_states} states: the next-state table [{n_states}x{dim}] (flattened) inline "
               f"in {state} = eval tf.gather(table, prev:{state} * {dim} + {label}) (sparse, dim {n_states}), "
               f"initial 0; the allowed table a root non-trainable variable {t_allow} [{n_states}x{dim}] "
               f"(constant init); {allowed} = gather({t_allow}, {at}, dim:{n_states})")]
    else:
        mult = rng.choice([2, 3, 5])
        unit[state] = {"class": "eval", "from": [label, f"prev:{state}"],
                       "eval": f"tf.math.floormod(tf.cast(source(1, auto_convert=False), tf.int32) * {mult} + "
                               f"tf.cast(source(0, auto_convert=False), tf.int32), {n_states})",
                       "out_type": {"dtype": "int32", "sparse": True, "dim": n_states},
                       "initial_output": 0}
        at = state if late else f"prev:{state}"
        unit[allowed] = {"class": "eval", "from": [scores, at],
                         "eval": f"tf.cast(tf.not_equal(tf.math.floormod(tf.range({dim})[None, :] + "
                                 f"tf.cast(source(1, auto_convert=False), tf.int32)[:, None], {n_states}), "
                                 f"{n_states - 1}), tf.float32) * tf.ones_like(source(0))"}
        how = [(f"{rec}: {what} with {n_states} states as eval formulas: {state} = (prev:{state} * {mult} + "
               f"{label}) mod {n_states} (sparse, dim {n_states}), initial 0; {allowed} = labels v with "
               f"(v + {at}) mod {n_states} != {n_states - 1}, shaped like {scores}")]
    masked = _fresh(unit, f"{scores}_fsa")
    apply = rng.choice(["arith", "switch"])
    if apply == "switch":
        ok = _fresh(unit, "fsa_ok")
        unit[ok] = {"class": "compare", "kind": "greater", "from": allowed, "value": 0.5}
        off = 0.0 if kind == "prob" else NEG
        unit[masked] = {"class": "switch", "condition": ok, "true_from": scores, "false_from": off}
        how.append(f"{masked} = switch({allowed} > 0.5, {scores}, {off})")
    elif kind == "prob":
        unit[masked] = {"class": "combine", "kind": "mul", "from": [scores, allowed]}
        how.append(f"{masked} = combine mul({scores}, {allowed})")
    else:
        unit[masked] = {"class": "eval", "from": [scores, allowed], "eval": f"source(0) + (1. - source(1)) * {NEG}"}
        how.append(f"{masked} = {scores} + (1 - {allowed}) * {NEG}")
    unit[choice]["from"] = masked
    how.append(f"{choice} ({kind}) reads {masked}")
    export = rng.choices(["none", "end", "output", "decide", "copy"], [0.4, 0.2, 0.15, 0.15, 0.1])[0]
    if export == "end" and isinstance(unit.get("end"), dict):
        old = _rename_end(unit)
        final = _fresh(unit, "fsa_in_start")
        unit[final] = {"class": "compare", "kind": "equal", "from": state, "value": 0}
        unit["end"] = {"class": "combine", "kind": "logical_and", "from": [old, final]}
        how.append(f"end = logical_and({old}, {state} == 0)")
    elif export in ("output", "decide", "copy"):
        unit[state]["is_output_layer"] = True
        how.append(f"{state} an output layer of the loop")
        if export != "output":
            out = _fresh(net, f"{rec}_{state}")
            net[out] = {"class": export, "from": f"{rec}/{state}", "is_output_layer": True}
            how.append(f"root {out} = {export} of {rec}/{state}, an output layer")
    return new, "; ".join(how)


FRESH102_OPERATORS: tuple[Op, ...] = (
    Op("align-cheat-choice", op_align_cheat_choice, 1),
    Op("prefix-switch-forcing", op_prefix_switch_forcing, 1.2),
    Op("allowed-vocab-scores", op_allowed_vocab_scores, 1),
    Op("fsa-state-gather", op_fsa_state_gather, 1.2),
)
