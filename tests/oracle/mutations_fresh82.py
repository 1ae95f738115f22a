"""An eighty-fourth set of edit operators (issue 15, eighteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Search-mode network patterns of RETURNN's own unit tests in ``tests/test_TFNetworkRecLayer.py`` that no earlier
set used, adapted onto the bases' searching decoders (none a variant of an earlier operator; no rule was
written for any of them):

* ``raw-beam-copies``: the instrumentation of ``test_search_multi_choice_simple_keep_beams`` (every loop
  layer but ``end`` / ``output`` marked ``is_output_layer``, each with a ``NAME_raw`` copy through
  ``decide_keep_beam`` that is an output layer too, "to get the original beams", and per choice
  ``_C_src_beams`` / ``_C_beam_scores`` (``choice_get_src_beams`` / ``choice_get_beam_scores``)): one to three
  loop layers (and maybe the choices' beam tools) get such raw copies; the copies stay in the loop (as in the
  test), or are fetched at the root by path (``REC/NAME_raw``, a ``copy`` output layer, or two raw copies
  concatenated there, one taken before and one after the choice), or a loop reader reads the raw copy
  instead of the layer;
* ``kv-in-loop``: ``test_reclayer_optimize_out_dot_kv_in_rec`` ("the att key/value layers declared INSIDE
  the rec layer ... this does not depend on the classes, but you should still be able to define it here"):
  an attention whose key and value projections of a root encoder layer (``linear`` of ``base:ENC``, the key
  maybe ``is_output_layer`` as in the test) are loop layers, the energy a ``dot`` of the key and a query
  (``linear`` of a loop state or of its previous frame) or an additive energy, ``softmax_over_spatial``,
  ``generic_attention`` with the in-loop value as ``base``; the context is an extra source of a dense loop
  layer the choice's scores depend on (or only an output layer of the loop); now and then the in-loop key is
  also fetched at the root by path (``REC/KEY``, a ``copy`` output layer), the way the test marks it an
  output to get it constructed;
* ``end-step-eval``: the ``end`` of ``test_search_multi_choice_simple_keep_beams``: an ``eval`` over
  ``[":i", CHOICE]`` with ``out_type`` bool (a scalar per hypothesis) that only marks the choice as used and ends once the frame index
  reaches a bound (``(source(1), tf.greater_equal(source(0), N))[-1]``), with ``include_eos: True`` on the
  rec layer as there; the bound a constant (3 or 5) or the encoder's length (a root ``length``, ``base:``);
  sometimes the choice left out of the ``eval`` (``[":i"]`` only, an end that carries no beam), or the old
  end kept and or-ed with the step bound (``combine`` ``logical_or``).
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
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH82_SEED = 20270144
N_FRESH82 = 80

Result = "tuple[Case, str] | None"

_DENSE = ("linear", "rnn_cell", "softmax", "combine", "activation", "rec", "copy", "eval", "dropout",
          "layer_norm", "reduce_out")


def _score_sources(unit: dict[str, Any], choice: str) -> list[str]:
    return [s for s in _sources(unit[choice]) if s in unit and isinstance(unit[s], dict)]


def _path_layers(unit: dict[str, Any], choice: str) -> list[str]:
    """Loop layers the choice's scores depend on in the frame (the scores included)."""
    out: set[str] = set()
    for s in _score_sources(unit, choice):
        out.add(s)
        out |= _frame_ancestors(unit, s)
    return sorted(k for k in out if k in unit and isinstance(unit[k], dict))


def _dense_on_path(unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers with parameters on the scores' path (which can take one more source)."""
    return [k for k in _path_layers(unit, choice)
            if unit[k].get("class") in ("linear", "rnn_cell", "softmax") and _sources(unit[k])
            and all(not s.startswith("data:") for s in _sources(unit[k]))
            and unit[k].get("class") != "choice"]


# ----------------------------------------------------------------------------------------------------
# raw-beam-copies


def op_raw_beam_copies(case: Case, rng: random.Random) -> Result:
    """Loop layers marked outputs with ``decide_keep_beam`` raw copies, as in the multi-choice search test."""
    new, net = _copy(case)
    recs = _searching_recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    choices = _unit_choices(unit)
    cands = [k for k in _layers(unit) if k not in ("end", "output") and unit[k].get("class") not in ("choice",)]
    if not cands:
        return None
    picks = rng.sample(cands, min(len(cands), rng.choice([1, 2, 3])))
    if rng.random() < 0.3:
        picks.append(rng.choice(choices))
    made = []
    raws: dict[str, str] = {}
    for name in picks:
        unit[name]["is_output_layer"] = True
        raw = _fresh(unit, f"{name}_raw")
        unit[raw] = {"class": "decide_keep_beam", "from": name, "is_output_layer": True}
        raws[name] = raw
        made.append(f"{raw} = decide_keep_beam({name})")
    desc = f"{rec}: " + ", ".join(made) + " (all output layers)"
    if rng.random() < 0.4:
        c = rng.choice(choices)
        sb = _fresh(unit, f"_{c}_src_beams")
        unit[sb] = {"class": "choice_get_src_beams", "from": c}
        bs = _fresh(unit, f"_{c}_beam_scores")
        unit[bs] = {"class": "choice_get_beam_scores", "from": c}
        if rng.random() < 0.5:
            unit[sb]["is_output_layer"] = True
            unit[bs]["is_output_layer"] = True
            desc += f"; {sb} / {bs} (the choice's beam tools) output layers"
        else:
            desc += f"; {sb} / {bs} (the choice's beam tools, read by nothing)"
    mode = rng.choices(["loop", "root", "root-concat", "reader"], [0.3, 0.25, 0.25, 0.2])[0]
    dense_raws = {n: r for n, r in raws.items() if unit[n].get("class") in _DENSE and n not in choices}
    if mode == "root-concat" and len(dense_raws) < 2:
        # one copy before the choice (a layer the scores depend on) and one after it
        choice = rng.choice(choices)
        before = [k for k in _path_layers(unit, choice) if unit[k].get("class") in ("linear", "rnn_cell")
                  and k not in raws]
        after = [k for k in _layers(unit) if choice in _sources(unit[k]) and unit[k].get("class") == "linear"
                 and k not in raws]
        if before and after:
            for name in (rng.choice(before), rng.choice(after)):
                unit[name]["is_output_layer"] = True
                raw = _fresh(unit, f"{name}_raw")
                unit[raw] = {"class": "decide_keep_beam", "from": name, "is_output_layer": True}
                dense_raws[name] = raw
                desc += f", {raw} = decide_keep_beam({name})"
        else:
            mode = "root"
    if mode == "root-concat" and len(dense_raws) >= 2:
        a, b = rng.sample(sorted(dense_raws), 2)
        root = _fresh(net, f"{rec}_raw_concat")
        net[root] = {"class": "copy", "from": [f"{rec}/{dense_raws[a]}", f"{rec}/{dense_raws[b]}"],
                     "is_output_layer": True}
        return new, f"{desc}; root {root} = copy of [{rec}/{dense_raws[a]}, {rec}/{dense_raws[b]}] (an output)"
    if mode == "root-concat":
        mode = "root"
    if mode == "root":
        name = rng.choice(sorted(raws))
        root = _fresh(net, f"{rec}_{name}_raw")
        net[root] = {"class": "copy", "from": f"{rec}/{raws[name]}", "is_output_layer": True}
        return new, f"{desc}; root {root} = copy of {rec}/{raws[name]} (an output)"
    if mode == "reader":
        sites = []
        for name, raw in raws.items():
            for k in _layers(unit):
                if k in raws.values() or k == name:
                    continue
                srcs = unit[k].get("from")
                if srcs == name or (isinstance(srcs, list) and name in srcs):
                    sites.append((k, name, raw))
        if sites:
            k, name, raw = rng.choice(sites)
            srcs = unit[k]["from"]
            unit[k]["from"] = raw if srcs == name else [raw if s == name else s for s in srcs]
            return new, f"{desc}; {k} reads {raw} instead of {name}"
    return new, desc + "; the copies stay in the loop"


# ----------------------------------------------------------------------------------------------------
# kv-in-loop


def _encoder_refs(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    """Root layers with a time axis that the unit reads through ``base:`` (not extern data)."""
    out = set()
    for k in _layers(unit):
        refs = _sources(unit[k])
        if isinstance(unit[k].get("base"), str):
            refs.append(unit[k]["base"])
        for s in refs:
            if s.startswith("base:"):
                name = s[len("base:"):]
                head = _head(name)
                if head in net and isinstance(net[head], dict) and "/" not in name \
                        and net[head].get("class") not in ("rec", "choice", "decide", "reduce", "length",
                                                          "constant", "variable", "squeeze", "gather"):
                    out.add(name)
    return sorted(out)


def _per_frame_state(unit: dict[str, Any], name: str) -> bool:
    """A recurrent cell, or a ``linear`` that reads no encoder frames (no ``base:`` in its frame ancestry)."""
    cls = unit[name].get("class")
    if cls in ("rnn_cell", "rec"):
        return True
    if cls != "linear":
        return False
    for k in {name} | _frame_ancestors(unit, name):
        desc = unit.get(k)
        if isinstance(desc, dict) and any(s.startswith("base:") for s in _sources(desc)):
            return False
    return True


def op_kv_in_loop(case: Case, rng: random.Random) -> Result:
    """An attention whose key / value projections of the encoder are declared inside the loop."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        encs = _encoder_refs(net, unit)
        if not encs:
            continue
        for c in _unit_choices(unit):
            readers = _dense_on_path(unit, c)
            states = [k for k in _path_layers(unit, c) if _per_frame_state(unit, k)]
            if readers and states:
                sites.append((r, c, encs, readers, states))
    if not sites:
        return None
    rec, choice, encs, readers, states = rng.choice(sites)
    unit = net[rec]["unit"]
    enc = rng.choice(encs)
    reader = rng.choice(readers)
    state = rng.choice(states)
    # the query reads this frame's state only where that cannot close a cycle through the reader
    cur_ok = state != reader and reader not in _frame_ancestors(unit, state)
    qsrc = state if cur_ok and rng.random() < 0.35 else f"prev:{state}"
    dim = rng.choice([6, 8])
    key = _fresh(unit, "enc_ctx_in")
    val = _fresh(unit, "enc_value_in")
    unit[key] = {"class": "linear", "activation": None, "with_bias": False, "from": f"base:{enc}", "n_out": dim}
    if rng.random() < 0.4:
        unit[key]["is_output_layer"] = True
    if rng.random() < 0.5:
        unit[val] = {"class": "linear", "activation": None, "with_bias": False, "from": f"base:{enc}",
                     "n_out": dim}
        vdesc = f"{val} = linear(base:{enc})"
    else:
        unit[val] = {"class": "copy", "from": f"base:{enc}"}
        vdesc = f"{val} = copy(base:{enc})"
    query = _fresh(unit, "att_query_in")
    unit[query] = {"class": "linear", "activation": None, "with_bias": False, "from": qsrc, "n_out": dim}
    weights = _fresh(unit, "att_weights_in")
    if rng.random() < 0.5:
        energy = _fresh(unit, "energy_dot_in")
        unit[energy] = {"class": "dot", "from": [key, query], "red1": "F", "red2": "F", "var1": "T",
                        "var2": None, "add_var2_if_empty": False}
        unit[weights] = {"class": "softmax_over_spatial", "from": energy}
        how = f"{energy} = dot({key}, {query})"
    else:
        e_in = _fresh(unit, "energy_in_kv")
        unit[e_in] = {"class": "combine", "kind": "add", "from": [key, query]}
        e_tanh = _fresh(unit, "energy_tanh_kv")
        unit[e_tanh] = {"class": "activation", "activation": "tanh", "from": e_in}
        energy = _fresh(unit, "energy_kv")
        unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": e_tanh, "n_out": 1}
        unit[weights] = {"class": "softmax_over_spatial", "from": energy}
        how = f"{energy} = linear(tanh({key} + {query}))"
    ctx = _fresh(unit, "att_kv")
    unit[ctx] = {"class": "generic_attention", "weights": weights, "base": val}
    desc = (f"{rec}: key {key} = linear(base:{enc}){' (an output layer)' if unit[key].get('is_output_layer') else ''}, "
            f"value {vdesc}, query {query} = linear({qsrc}), {how}, {ctx} = generic_attention({weights}, base={val})")
    if rng.random() < 0.8:
        _add_source(unit[reader], ctx)
        desc += f"; {reader} (on the scores' path) also reads {ctx}"
    else:
        unit[ctx]["is_output_layer"] = True
        desc += f"; {ctx} only an output layer of the loop"
    if rng.random() < 0.25:
        unit[key]["is_output_layer"] = True
        root = _fresh(net, f"{rec}_{key}")
        net[root] = {"class": "copy", "from": f"{rec}/{key}", "is_output_layer": True}
        desc += f"; root {root} = copy of {rec}/{key} (an output)"
    return new, desc


# ----------------------------------------------------------------------------------------------------
# end-step-eval


def _root_time_layers(net: dict[str, Any], rec: str) -> list[str]:
    """Root encoder layers the rec reads (transitively), with a time axis most likely."""
    return [k for k in sorted(_root_ancestors(net, rec))
            if net[k].get("class") in ("linear", "rec", "copy", "conv", "pool", "layer_norm", "activation")]


def op_end_step_eval(case: Case, rng: random.Random) -> Result:
    """The loop's ``end`` an ``eval`` over the frame index (and the choice, only marked used)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _unit_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    bound_kind = rng.choices(["const", "enc-len"], [0.6, 0.4])[0]
    encs = _root_time_layers(net, rec)
    if bound_kind == "enc-len" and not encs:
        bound_kind = "const"
    with_choice = rng.random() < 0.7
    srcs: list[str] = [":i"]
    if bound_kind == "const":
        n = rng.choice([3, 5])
        if with_choice:
            srcs.append(choice)
            code = f"(source(1), tf.greater_equal(source(0), {n}))[-1]"
        else:
            code = f"tf.greater_equal(source(0), {n})"
        bound = f"{n}"
    else:
        enc = rng.choice(encs)
        length = _fresh(net, f"{enc}_seq_len")
        net[length] = {"class": "length", "from": enc}
        srcs.append(f"base:{length}")
        if with_choice:
            srcs.append(choice)
            code = "(source(2), tf.greater_equal(source(0), source(1) - 1))[-1]"
        else:
            code = "tf.greater_equal(source(0), source(1) - 1)"
        bound = f"the length of {enc} ({length} at the root)"
    step_end = {"class": "eval", "from": srcs, "eval": code,
                "out_type": {"dtype": "bool", "sparse_dim": None}}
    net[rec]["include_eos"] = True
    used = f"{choice} only marked used" if with_choice else f"{choice} not read"
    old = unit.get("end")
    if isinstance(old, dict) and rng.random() < 0.35:
        old_name = _fresh(unit, "end_label")
        unit[old_name] = unit.pop("end")
        for k in _layers(unit):
            if k == old_name:
                continue
            f = unit[k].get("from")
            if f == "end":
                unit[k]["from"] = old_name
            elif isinstance(f, list):
                unit[k]["from"] = [old_name if s == "end" else s for s in f]
        step = _fresh(unit, "end_step")
        unit[step] = step_end
        unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old_name, step]}
        return new, (f"{rec}: include_eos True; {step} = eval over {srcs} ({used}): step index reaches {bound}; "
                     f"end = logical_or({old_name}, {step}), {old_name} the old end")
    had = "replaces the old end" if isinstance(old, dict) else "is the new end"
    unit["end"] = step_end
    return new, f"{rec}: include_eos True; end = eval over {srcs} ({used}): step index reaches {bound} ({had})"


FRESH82_OPERATORS: tuple[Op, ...] = (
    Op("raw-beam-copies", op_raw_beam_copies, 1),
    Op("kv-in-loop", op_kv_in_loop, 1),
    Op("end-step-eval", op_end_step_eval, 0.4),  # its eval fails on a dtype in 5 of 6 RETURNN checks (not search)
)
