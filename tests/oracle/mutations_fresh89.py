"""A ninety-first set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: the searching decoders that rwth-i6/returnn_common generates from ``nn`` code (``nn.Loop`` with
``loop.state`` / ``loop.stack`` / ``loop.end``, ``nn.choice`` through ``nn.SearchFunc``, the generic ``Decoder``),
in the net-dict form returnn_common emits, put onto the bases' searching decoders (not the ``subnetwork`` /
``name_scope`` module wrapping and the sub-layer paths of ``mutations_fresh78.py``, and none a variant of an earlier
operator; no rule was written for any of them). The issue tracker of rwth-i6/returnn_common is not among the
stored threads of the search tool, so each operator is tied to the returnn_common issue that the returnn_common
source cites where it emits the form (``nn/loop.py``, ``nn/search.py``, ``nn/decoder/base.py``, the tests
``tests/test_nn_loop.py`` / ``tests/test_nn_cond.py``, read in the code corpus) and to the rwth-i6/returnn thread
that was opened for that returnn_common issue where there is one:

* ``rc-loop-stack``: the outputs of a loop as ``Loop.stack`` / ``Loop.end`` / ``Loop.__exit__`` emit them
  (rwth-i6/returnn_common#16, the ``nn.Loop`` / rec design issue that ``nn/loop.py`` cites, and
  rwth-i6/returnn_common#49, the generic decoder issue of ``nn/decoder/base.py``, whose ``Decoder.__call__`` does
  ``loop.state.label_nb = choice``, ``loop.end(label == eos, include_eos=False)``, ``loop.stack(choice)``): the
  label choice is no longer the unit's ``output`` but a layer ``choice`` (every ``prev:`` reference follows) and
  ``output`` is a ``copy`` of it; on top of that one of: (a) a dense beamed loop layer (the choice's scores or
  another one) is stacked too, a ``copy`` marked ``is_output_layer`` (now and then not marked, as before
  ``Loop.stack`` set the flag) that the root reads through ``REC/NAME`` after the loop (a ``reduce`` max over
  ``F``, a ``decide`` or a plain ``copy``, each an output layer), (b) the ``end`` becomes a ``copy`` of the old end
  condition, renamed ``eq``, and the rec layer gets ``include_eos`` spelled out (``False`` as in the label-sync
  ``Decoder``, ``True`` as in ``test_rec_simple_iter``), (c) the stack is taken before ``loop.state.target`` is
  assigned in the frame, so it stacks the previous label: ``output`` (or a stacked ``found``, read at the root by
  a ``decide`` or a ``copy``) is a ``copy`` of ``prev:choice``, or (d) the user stacked nothing, so
  ``Loop.__exit__`` stacks the end condition as the dummy output: ``output`` is a ``copy`` of ``end`` and the root
  readers of the decoder read the beamed end flags.
* ``rc-search-func``: the choice as ``nn.SearchFunc.choice`` emits it (``nn/search.py``:
  ``nn.choice(output, input_type=output_type, beam_size=..., target=None, search=True)``; the ``search=True``
  flag is what rwth-i6/returnn#946 "Simpler search flag logic" / #947 "Simplify search flag logic" added for
  rwth-i6/returnn_common#18; the ``probs_type = "logits"`` / ``"log_prob"`` of the generic ``Decoder`` of
  rwth-i6/returnn_common#49; ``length_normalization=False`` of the transducer recognition in
  ``tests/test_nn_cond.py::test_cond_chunking_conformer``): the choice gets ``target: None`` and ``search: True``,
  and chooses over ``logits`` (a ``linear`` without activation over the old softmax' sources, ``input_type``
  ``logits``), over ``log_prob`` (an ``activation`` ``log_softmax`` of those logits, ``input_type`` ``log_prob``),
  or over the old probabilities; maybe without length normalisation, maybe with the old softmax dropped when
  nothing else reads it.
* ``rc-state-initial``: the initial values of ``loop.state`` as root layers read through ``base:`` (``nn/loop.py``
  ``_LoopState.assign`` puts the initial tensor into ``initial_output``; rwth-i6/returnn_common#49's
  ``default_initial_state(batch_dims=...)``; the ``loop.state.target = nn.constant(blank_idx, shape=batch_dims,
  sparse_dim=...)`` and ``loop.state.h = nn.zeros([nn.batch_dim, dim])`` of ``tests/test_nn_cond.py`` /
  ``tests/test_nn_loop.py``, rwth-i6/returnn_common#16): one or more loop layers fed back through ``prev:`` get
  ``initial_output: "base:X"``, X a root ``constant``: for the label choice a batched int ``constant`` of the old
  initial label, made sparse by a ``reinterpret_data`` (``set_sparse_dim``) as ``sparse_dim`` does (now and then
  over the labels plus blank, one more, as the transducer recognition's ``wb_target_dim``), or left dense as a
  user writes ``nn.constant`` without ``sparse_dim``; for a dense state a batched float zero ``constant`` of
  the state's size, or one without the batch dim (``nn.zeros([dim])``, the batch dims forgotten).
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
    _map_refs,
    _readers,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH89_SEED = 20270151
N_FRESH89 = 80

Result = "tuple[Case, str] | None"

#: Loop layer classes with a dense feature axis of size ``n_out`` (what a stacked value or a state can be).
_DENSE = ("linear", "softmax", "rnn_cell", "combine", "activation", "copy", "eval", "generic_attention")


def _data_target(desc: dict[str, Any]) -> str | None:
    target = desc.get("target")
    if isinstance(target, str) and not target.startswith("layer:"):
        return target.removeprefix("data:")
    return None


def _label_choices(unit: dict[str, Any]) -> list[str]:
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and _data_target(unit[c]) is not None]


def _rename_in_unit(unit: dict[str, Any], old: str, new: str) -> None:
    """Rename loop layer ``old`` to ``new`` with every reference in the unit (``prev:`` ones, sub-layer paths
    and ``base:`` references from subnetworks of the unit's layers included)."""

    def fn(ref: str) -> str:
        for pre in ("prev:", ""):
            if ref == pre + old:
                return pre + new
            if ref.startswith(pre + old + "/"):
                return pre + new + ref[len(pre + old):]
        return ref

    def fn_base(ref: str) -> str:
        if ref.startswith("base:"):
            return "base:" + fn(ref[len("base:"):])
        return ref

    unit[new] = unit.pop(old)
    for k in _layers(unit):
        desc = unit[k]
        _map_refs(desc, fn)
        sub = desc.get("subnetwork")
        if isinstance(sub, dict):
            for inner in sub.values():
                if isinstance(inner, dict):
                    _map_refs(inner, fn_base)


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    srcs = _sources(unit[choice])
    if len(srcs) == 1 and srcs[0] in unit and isinstance(unit[srcs[0]], dict):
        return srcs[0]
    return None


def _dense_layers(unit: dict[str, Any]) -> list[str]:
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in _DENSE
            and (isinstance(unit[k].get("n_out"), int) or unit[k].get("class") == "softmax")]


# ----------------------------------------------------------------------------------------------------
# rc-loop-stack


def op_rc_loop_stack(case: Case, rng: random.Random) -> Result:
    """The loop's outputs as ``nn.Loop.stack`` / ``end`` / ``__exit__`` emit them."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    how = []
    renamed = False
    if choice == "output":
        name = _fresh(unit, "choice")
        _rename_in_unit(unit, "output", name)
        unit["output"] = {"class": "copy", "from": name}
        choice = name
        renamed = True
        how.append(f"choice {rec}/output renamed {name} (prev: references follow), output = copy of it")
    modes = ["stack", "end", "stack-prev"] + (["dummy"] if renamed and isinstance(unit.get("end"), dict) else [])
    weights = {"stack": 0.4, "end": 0.25, "stack-prev": 0.25, "dummy": 0.15}
    if renamed:
        modes.append("plain")
        weights["plain"] = 0.15
    mode = rng.choices(modes, [weights[m] for m in modes])[0]
    if mode == "end" and not isinstance(unit.get("end"), dict):
        mode = "stack"
    if mode == "stack":
        cands = [k for k in _dense_layers(unit) if k not in (choice, "output")]
        score = _scores(unit, choice)
        if not cands:
            return None
        x = score if score in cands and rng.random() < 0.5 else rng.choice(cands)
        st = _fresh(unit, f"{x}_stacked")
        unit[st] = {"class": "copy", "from": x, "is_output_layer": True}
        unmarked = rng.random() < 0.15
        if unmarked:
            del unit[st]["is_output_layer"]
        reader = rng.choices(["reduce", "decide", "copy"], [0.4, 0.35, 0.25])[0]
        out = _fresh(net, f"{rec}_{x}")
        if reader == "reduce":
            net[out] = {"class": "reduce", "mode": "max", "axes": "F", "from": f"{rec}/{st}", "is_output_layer": True}
        else:
            net[out] = {"class": reader, "from": f"{rec}/{st}", "is_output_layer": True}
        flag = "not marked is_output_layer" if unmarked else "is_output_layer"
        how.append(f"{x} stacked as {rec}/{st} (copy, {flag}), read at the root by {reader} {out} "
                   "(an output layer)")
    elif mode == "stack-prev":
        st = _fresh(unit, "found")
        if renamed and rng.random() < 0.4:
            unit["output"] = {"class": "copy", "from": f"prev:{choice}"}
            how.append(f"the stack taken before the state is assigned: output = copy of prev:{choice}")
        else:
            unit[st] = {"class": "copy", "from": f"prev:{choice}", "is_output_layer": True}
            out = _fresh(net, f"{rec}_found")
            net[out] = {"class": rng.choice(["decide", "copy"]), "from": f"{rec}/{st}", "is_output_layer": True}
            how.append(f"the stack taken before the state is assigned: {rec}/{st} = copy of prev:{choice} "
                       f"(is_output_layer), read at the root by {net[out]['class']} {out}")
    elif mode == "end":
        eq = _fresh(unit, "eq")
        _rename_in_unit(unit, "end", eq)
        unit["end"] = {"class": "copy", "from": eq}
        inc = rng.random() < 0.4
        net[rec]["include_eos"] = inc
        how.append(f"end = copy of the old end condition (renamed {eq}), include_eos={inc} on {rec}")
    elif mode == "dummy":
        unit["output"] = {"class": "copy", "from": "end"}
        readers = _readers(net, rec)
        how.append(f"nothing stacked: output = copy of end (the dummy stack of Loop.__exit__), the root readers "
                   f"({', '.join(readers) or 'none'}) read the end flags")
    if not how:
        return None
    return new, f"{rec}: " + "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# rc-search-func


def op_rc_search_func(case: Case, rng: random.Random) -> Result:
    """The choice as ``nn.SearchFunc.choice`` emits it: ``target: None``, ``search: True``, logits / log-probs."""
    new, net = _copy(case)
    sites = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for c in _label_choices(unit):
            s = _scores(unit, c)
            if s is None or unit[c].get("input_type", "prob") != "prob":
                continue
            if unit[s].get("class") == "softmax" or (unit[s].get("class") == "linear"
                                                     and unit[s].get("activation") == "softmax"):
                sites.append((r, c, s))
    if not sites:
        return None
    rec, choice, s = rng.choice(sites)
    unit = net[rec]["unit"]
    dim = _target_dim(case, _data_target(unit[choice]))
    if not isinstance(dim, int):
        dim = unit[s].get("n_out")
    if not isinstance(dim, int):
        return None
    kind = rng.choices(["log_prob", "logits", "prob"], [0.45, 0.35, 0.2])[0]
    desc = unit[choice]
    how = []
    if kind in ("log_prob", "logits"):
        logits = _fresh(unit, "logits")
        unit[logits] = {"class": "linear", "activation": None, "from": unit[s]["from"], "n_out": dim}
        src = logits
        if kind == "log_prob":
            src = _fresh(unit, "log_prob")
            unit[src] = {"class": "activation", "activation": "log_softmax", "from": logits}
            how.append(f"{logits} = linear (no activation) over the sources of {s}, {src} = log_softmax of it")
        else:
            how.append(f"{logits} = linear (no activation) over the sources of {s}")
        desc["from"] = src
        desc["input_type"] = kind
        if not [k for k in _readers(unit, s) if k != choice] and rng.random() < 0.5:
            del unit[s]
            how.append(f"{s} dropped (nothing else reads it)")
    desc["target"] = None
    desc["search"] = True
    how.insert(0, f"{choice}: target None, search True, input_type {desc.get('input_type', 'prob')}"
                  f" over {_sources(desc)[0]}")
    if rng.random() < 0.35:
        desc["length_normalization"] = False
        how.append("length_normalization False")
    return new, f"{rec}: " + "; ".join(how)


# ----------------------------------------------------------------------------------------------------
# rc-state-initial


def _state_layers(unit: dict[str, Any]) -> list[str]:
    """Loop layers read through ``prev:`` whose initial value can be a root constant."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if k == "end" or not _readers(unit, k, f"prev:{k}"):
            continue
        if desc.get("class") == "choice":
            if desc.get("input_type") != "regression" and _data_target(desc) is not None:
                out.append(k)
        elif desc.get("class") in ("linear", "softmax", "combine", "activation", "copy", "eval", "generic_attention") \
                and isinstance(desc.get("n_out"), int):
            out.append(k)
    return out


def op_rc_state_initial(case: Case, rng: random.Random) -> Result:
    """The initial values of ``loop.state`` as root constants read through ``base:``."""
    new, net = _copy(case)
    sites = [(r, k) for r in _searching_recs(net) for k in _state_layers(net[r]["unit"])]
    if not sites:
        return None
    rec = rng.choice(sorted({r for r, _ in sites}))
    unit = net[rec]["unit"]
    states = [k for r, k in sites if r == rec]
    picked = states if rng.random() < 0.4 else rng.sample(states, rng.randint(1, len(states)))
    how = []
    for k in sorted(picked):
        desc = unit[k]
        old = desc.get("initial_output", "<unset>")
        if desc.get("class") == "choice":
            dim = _target_dim(case, _data_target(desc))
            value = old if isinstance(old, int) and not isinstance(old, bool) else 0
            const = _fresh(net, f"{k}_initial")
            net[const] = {"class": "constant", "value": value, "dtype": "int32", "with_batch_dim": True}
            ref = const
            u = rng.random()
            if isinstance(dim, int) and u < 0.65:
                ref = _fresh(net, f"{k}_initial_sparse")
                # the transducer recognition's constant is over the labels with blank (one more)
                wb = u < 0.15
                net[ref] = {"class": "reinterpret_data", "from": const, "set_sparse": True,
                            "set_sparse_dim": dim + 1 if wb else dim}
                form = (f"int constant {value} (batched), made sparse ({dim + 1 if wb else dim}"
                        f"{', the labels and blank' if wb else ''}) by reinterpret_data {ref}")
            else:
                form = f"int constant {value} (batched), dense"
        else:
            n = desc["n_out"]
            ref = _fresh(net, f"state_{k}_initial")
            if rng.random() < 0.75:
                net[ref] = {"class": "constant", "value": 0.0, "shape": [n], "with_batch_dim": True}
                form = f"zeros [B,{n}]"
            else:
                net[ref] = {"class": "constant", "value": 0.0, "shape": [n]}
                form = f"zeros [{n}] (no batch dim)"
        desc["initial_output"] = f"base:{ref}"
        how.append(f"{k}: initial_output {old!r} -> base:{ref} ({form})")
    return new, f"{rec}: " + "; ".join(how)


FRESH89_OPERATORS: tuple[Op, ...] = (
    Op("rc-loop-stack", op_rc_loop_stack, 1.2),
    Op("rc-search-func", op_rc_search_func, 1),
    Op("rc-state-initial", op_rc_state_initial, 1),
)
