"""A ninety-fourth set of edit operators (issue 15, nineteenth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Area: the control-flow constructs of rwth-i6/returnn_common's own code (``nn/cond.py``, ``nn/masked_computation.py``,
``nn/loop.py``; tests ``tests/test_nn_cond.py``, ``tests/test_nn_masked_computation.py``, ``tests/test_nn_loop.py``;
the same code lives on in RETURNN's ``returnn/tf/frontend_layers/{cond,masked_computation,loop}.py``) used
inside a searching decoder loop, in the net-dict form returnn_common emits, put onto the bases' searching
decoders: ``nn.Cond`` (a ``cond`` layer, ``from: []``, ``name_scope: ""``, its branches ``subnetwork`` layers
with ``from: []`` and an ``output`` ``copy``, loop layers read through ``base:``, more results as sub-layers
``cond/NAME`` marked ``is_output_layer`` in both branches) and ``nn.MaskedComputation`` (a
``masked_computation`` layer with a ``subnetwork`` unit, the loop state assigned inside it copied to the loop
level as ``state.NAME`` by ``_LoopState.assign``). Not the issue-tracker patterns of ``mutations_fresh89.py``
(``nn.Loop`` stack / state / search function), not the ``subnetwork`` module wrapping and sub-layer paths of
``mutations_fresh78.py`` / ``mutations_fresh41.py``. Dims stay plain sizes (the dict forms carry no ``Dim``
objects: no ``in_spatial_dim`` / ``out_shape``). None a variant of an earlier operator; no rule was written for
any of them:

* ``rc-cond-layer``: ``with nn.Cond(c) as cond: cond.true = ...; cond.false = ...; x = cond.result`` inside
  the loop (``CondModule.__call__`` of ``nn/cond.py``): a dense loop layer X on the path to a choice's scores
  is replaced by a ``cond`` layer whose branches are ``subnetwork`` layers (X's dict, its references lifted by one
  ``base:``, no ``target`` / loss as returnn_common writes no losses into layers, an ``output`` copy); X's
  readers read the cond (``prev:X`` -> ``prev:cond``, X's ``initial_output`` moved onto it, as
  ``_LoopState.assign`` does for a state assigned the cond's result). The other branch: a second module of
  the same options (``test_cond``: ``linear_true`` / ``linear_false``), the same module (same layer name, so
  shared parameters) on its dense first input times two (``test_cond_shared_params``), the held previous
  value (``base:prev:cond``, in the false branch), or, for a layer that reads nothing from the root, a root
  initial value (a ``tanh`` ``linear`` of the encoder mean, read through ``base:base:``) in either branch
  order (the cond's template comes from the true branch only). The condition: the loop's ``iter_idx == 0``
  (``:i``), ``nn.train_flag()`` (a root ``train_flag``), the ``nn.length(nn.batch_dim) % 2 == 0`` of
  ``test_cond`` on the root input or on the beamed previous label (batch times beam), "any hypothesis ended"
  (a ``reduce`` ``any`` over the batch axis), or the per-hypothesis flag users first write
  (``prev:CHOICE == EOS``, shape [B], which ``CondLayer`` rejects as not a scalar); ``name_scope: ""``
  dropped a fifth of the time, as hand-edited dicts do.
* ``rc-cond-tuple``: a loop layer X and a layer Y that reads X updated under one condition. Mostly (eight in
  ten) as two ``nn.Cond`` blocks on the same condition, the second's branches reading the first's result
  (``base:cond``), Y's readers reading the second cond; or as returnn_common emits ``cond.true = (x, y)``
  (``nn/cond.py`` ``true`` / ``false`` setters, ``CondLayer`` ``_extra_out`` / ``get_sub_layer``): Y marked
  ``is_output_layer`` in the true branch, a ``copy`` under Y's name (``is_output_layer``) in the false branch,
  Y's readers reading the sub-layer ``cond/Y``, and ``prev:Y`` read as ``prev:state.Y``, a loop-level
  ``copy`` of ``cond/Y`` carrying Y's ``initial_output`` ("RETURNN does not properly support a state in a
  subnet", ``_LoopState.assign`` of ``nn/loop.py``), or, as users simplify it by hand, ``prev:cond/Y`` with no
  state copy. The other branches: a second pair of modules (either branch order), or the previous values
  held (``base:prev:cond`` ...). Conditions as for ``rc-cond-layer``.
* ``rc-masked-state``: ``with nn.MaskedComputation(mask): loop.state.x = f(...)`` inside the loop
  (``MaskedComputationModule.__call__`` and ``_LoopState.assign``; ``test_masked_computation_lstm``): a dense
  loop layer X on the path to a choice (or fed back to it through ``prev:``) goes into a ``masked_computation``
  layer (``from: []``, ``name_scope: ""``, ``unit`` a ``subnetwork`` with X marked ``is_output_layer`` and an
  ``output`` copy), the loop-level ``state.X`` ``copy`` of ``masked_computation/X`` (X's ``initial_output``),
  X's readers reading ``masked_computation/X`` (what ``loop.state.x`` returns after the block) or, hand-edited,
  ``state.X`` / ``masked_computation``; ``prev:X`` read as ``prev:state.X`` (inside the unit
  ``base:prev:state.X``), or (a quarter of the time) as ``prev:masked_computation/X`` with no state copy. Or the
  two other forms the module's history gives: the docstring's equivalent ``nn.where(mask, x_new,
  loop.state.x)`` (a ``switch`` at the loop level that is the state), and the first API's
  ``masked_comp.unmask(y, loop.state.y)`` (an ``unmask`` layer on the masked computation, the state). The mask:
  the previous label not a given label (label-synchronous update), this frame's label not a given label where
  X comes after the choice (the label-sync LM of ``test_cond_chunking_conformer``), ``reduce(x, mean, F) >= 0``
  of the test on the previous label's embedding, or a per-sequence flag computed at the root (length of the
  input above 3, no beam) read through ``base:``.
* ``rc-cond-label``: the label fed back through ``loop.state`` chosen under an ``nn.Cond`` on
  ``iter_idx < n`` (a forced first label or prefix, as returnn_common users write it): the choice kept at the
  loop level and the cond after it (true: the forced label, an ``eval`` ``zeros_like + BOS`` of the choice, as
  the dims stay plain; false: a ``copy`` of the choice), the loop's ``output`` a ``copy`` of the cond
  (``loop.stack``), the readers and ``prev:`` readers of the label (the ``end`` among them) reading the cond;
  or the choice itself inside the false branch's ``subnetwork`` (its scores read through ``base:``; the forced
  label from an ``argmax`` of the scores); or the form that leaves the choice alone: the cond over the
  choice's scores (true: a one-hot of the forced label), the choice reading it.
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
    _frame_ancestors,
    _head,
    _layers,
    _map_refs,
    _refs,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH92_SEED = 20270154
N_FRESH92 = 80

Result = "tuple[Case, str] | None"

#: Layer classes that keep a state of their own, choose, or hold nested networks: not moved into branches.
_NOT_MOVABLE = frozenset({
    "choice", "rec", "rnn_cell", "cum_concat", "self_attention", "window", "masked_computation", "unmask",
    "cond", "subnetwork", "decide", "decide_keep_beam", "choice_get_beam_scores", "split_batch_beam",
    "rec_unstack", "get_last_hidden_state", "get_rec_accumulated", "rec_last_output", "positional_encoding",
    "kenlm", "edit_distance_table", "optimal_completions", "variable", "train_flag", "loss", "compare",
    "constant", "range_in_axis", "length", "rand_int", "random",
})
#: Options a returnn_common-generated layer does not carry (losses, targets, output marks).
_DROP_IN_BRANCH = ("loss", "loss_opts", "loss_scale", "target", "is_output_layer", "initial_output",
                   "need_last", "only_on_search", "only_on_eval")


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


def _eos(unit: dict[str, Any], choice: str) -> int:
    end = unit.get("end")
    if isinstance(end, dict) and end.get("class") == "compare" and choice in _sources(end):
        value = end.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _lift(ref: str, local: set[str]) -> str:
    """A reference of the loop unit as seen from a ``subnetwork`` one level down (a branch, a masked unit)."""
    if ref.startswith(("base:", "prev:", "data:")) or ref in ("data", ":i"):
        return "base:" + ref
    if _head(ref) in local:
        return "base:" + ref
    return ref


def _branch_desc(case: Case, desc: dict[str, Any], unit: dict[str, Any], keep: set[str] = frozenset(),
                 renames: dict[str, str] | None = None) -> dict[str, Any]:
    """``desc`` as returnn_common writes it inside a branch: references lifted by one ``base:`` (but those
    to ``keep``, which sit in the same branch, renamed by ``renames``), no target / loss / output marks (a
    ``softmax`` that took its size from its target gets ``n_out``)."""
    out = copy.deepcopy(desc)
    if out.get("class") == "softmax" and "n_out" not in out:
        dim = _target_dim(case, _data_target(out))
        if isinstance(dim, int):
            out["n_out"] = dim
    for key in _DROP_IN_BRANCH:
        out.pop(key, None)
    local = set(_layers(unit)) - set(keep)
    renames = renames or {}

    def fix(ref: str) -> str:
        head = _head(ref)
        if head in keep:
            return renames.get(head, head) + ref[len(head):]
        return _lift(ref, local)

    _map_refs(out, fix)
    return out


def _rename_in(layers: dict[str, Any], mapping: dict[str, str], skip: set[str] = frozenset()) -> None:
    """Rewrite the references of every layer of ``layers`` (not those in ``skip``) through ``mapping`` (exact
    reference strings), also inside nested ``subnetwork`` / ``masked_computation`` / ``cond`` nets, one
    ``base:`` further per level."""
    def visit(net: dict[str, Any], prefix: str, skipped: set[str]) -> None:
        for name in _layers(net):
            if name in skipped:
                continue
            desc = net[name]
            _map_refs(desc, lambda r: _mapped(r, prefix, mapping))
            _nested(desc, prefix)

    def _nested(desc: dict[str, Any], prefix: str) -> None:
        if isinstance(desc.get("subnetwork"), dict):
            visit(desc["subnetwork"], "base:" + prefix, set())
        unit = desc.get("unit")
        if desc.get("class") != "rec" and isinstance(unit, dict):
            if isinstance(unit.get("subnetwork"), dict):
                visit(unit["subnetwork"], "base:" + prefix, set())
            else:
                _map_refs(unit, lambda r: _mapped(r, prefix, mapping))
        for key in ("true_layer", "false_layer"):
            sub = desc.get(key)
            if isinstance(sub, dict):
                if isinstance(sub.get("subnetwork"), dict):
                    visit(sub["subnetwork"], "base:" + prefix, set())
                else:
                    _map_refs(sub, lambda r: _mapped(r, prefix, mapping))

    visit(layers, "", set(skip))


def _mapped(ref: str, prefix: str, mapping: dict[str, str]) -> str:
    if not ref.startswith(prefix):
        return ref
    rest = ref[len(prefix):]
    if rest in mapping:
        return prefix + mapping[rest]
    head, sep, tail = rest.partition("/")
    if sep and head in mapping and ":" not in head:
        return prefix + mapping[head] + "/" + tail
    return ref


def _root_rename(net: dict[str, Any], rec: str, mapping: dict[str, str]) -> None:
    """Root references ``REC/X`` follow a loop layer renamed ``X`` -> ``mapping[X]``."""
    full = {f"{rec}/{k}": f"{rec}/{v}" for k, v in mapping.items() if ":" not in k}
    for name in _layers(net):
        if name != rec:
            _map_refs(net[name], lambda r: full.get(r, r))


def _movable(unit: dict[str, Any], name: str) -> bool:
    desc = unit[name]
    return name not in ("end", "output") and desc.get("class") not in _NOT_MOVABLE and bool(_refs(desc)) \
        and not any(isinstance(desc.get(k), dict) for k in ("subnetwork", "unit"))


def _on_beam_path(unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer feeds a choice in the frame, or through ``prev:`` a layer that does."""
    feeders: set[str] = set()
    for c in _unit_choices(unit):
        feeders |= _frame_ancestors(unit, c)
    if name in feeders:
        return True
    return any(f"prev:{name}" in _refs(unit[k]) for k in feeders if k in unit)


def _dense_ref(unit: dict[str, Any], ref: str) -> bool:
    """Whether a reference of the loop names a dense (float) loop layer: not a choice, not data."""
    head = _head(ref.removeprefix("prev:"))
    return head in unit and isinstance(unit[head], dict) and unit[head].get("class") not in (
        "choice", "compare", "length", "range_in_axis", "rand_int", "reduce")


def _encoder(net: dict[str, Any], rec: str) -> str:
    """A root layer the decoder reads through ``base:`` (the encoder), else ``data``."""
    found = []
    for desc in net[rec]["unit"].values():
        if isinstance(desc, dict):
            for ref in _refs(desc):
                if ref.startswith("base:") and not ref.startswith("base:data"):
                    name = ref[len("base:"):].split("/", 1)[0]
                    if isinstance(net.get(name), dict) and net[name].get("class") not in ("rec", "choice"):
                        found.append(name)
    return min(found) if found else "data"


def _n_out(case: Case, desc: dict[str, Any]) -> int | None:
    n = desc.get("n_out")
    if isinstance(n, int) and not isinstance(n, bool):
        return n
    if desc.get("class") == "softmax":
        return _target_dim(case, _data_target(desc))
    return None


def _condition(net: dict[str, Any], unit: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    """An ``nn.Cond`` condition (a reference from the loop) and how it reads."""
    labels = _label_choices(unit)
    choice = labels[0] if labels else None
    kinds = ["first", "train", "batch-root"] + (["batch-loop", "any-ended", "per-hyp"] if choice else [])
    weights = [0.32, 0.14, 0.1] + ([0.16, 0.16, 0.12] if choice else [])
    kind = rng.choices(kinds, weights)[0]
    if kind == "first":
        name = _fresh(unit, "iter_first")
        unit[name] = {"class": "compare", "from": ":i", "kind": "equal", "value": 0}
        return name, f"{name} = (:i == 0)"
    if kind == "train":
        name = _fresh(net, "train_flag")
        net[name] = {"class": "train_flag"}
        return f"base:{name}", f"root {name} (train_flag)"
    if kind == "batch-root":
        length = _fresh(net, "batch_len")
        net[length] = {"class": "length", "from": "data", "axis": "B"}
        mod = _fresh(net, "batch_len_mod")
        net[mod] = {"class": "eval", "from": length, "eval": "source(0) % 2"}
        even = _fresh(net, "batch_even")
        net[even] = {"class": "compare", "from": mod, "kind": "equal", "value": 0}
        return f"base:{even}", f"root {even} = (length(data, B) % 2 == 0)"
    eos = _eos(unit, choice)
    if kind == "batch-loop":
        length = _fresh(unit, "batch_len")
        unit[length] = {"class": "length", "from": f"prev:{choice}", "axis": "B"}
        mod = _fresh(unit, "batch_len_mod")
        unit[mod] = {"class": "eval", "from": length, "eval": "source(0) % 2"}
        even = _fresh(unit, "batch_even")
        unit[even] = {"class": "compare", "from": mod, "kind": "equal", "value": 0}
        return even, f"{even} = (length(prev:{choice}, B) % 2 == 0), beamed batch"
    ended = _fresh(unit, "hyp_ended")
    unit[ended] = {"class": "compare", "from": f"prev:{choice}", "kind": "equal", "value": eos}
    if kind == "per-hyp":
        return ended, f"{ended} = (prev:{choice} == {eos}), per hypothesis"
    anyn = _fresh(unit, "any_ended")
    unit[anyn] = {"class": "reduce", "mode": "any", "axes": "B", "from": ended}
    return anyn, f"{anyn} = reduce_any over B of (prev:{choice} == {eos})"


def _prev_in_branches(cond: dict[str, Any], mapping: dict[str, str]) -> None:
    """Inside both branches, references to a moved layer's previous frame follow its new name."""
    for key in ("true_layer", "false_layer"):
        for desc in cond[key]["subnetwork"].values():
            _map_refs(desc, lambda r: mapping.get(r, r))


def _subnet(layers: dict[str, Any], out: str) -> dict[str, Any]:
    net = dict(layers)
    if out != "output":
        net["output"] = {"class": "copy", "from": out}
    return {"class": "subnetwork", "from": [], "subnetwork": net}


# ----------------------------------------------------------------------------------------------------
# rc-cond-layer


def op_rc_cond_layer(case: Case, rng: random.Random) -> Result:
    """A dense loop layer on the beam path computed under an ``nn.Cond`` in returnn_common's form."""
    new, net = _copy(case)
    sites = [(r, x) for r in _searching_recs(net) for x in _layers(net[r]["unit"])
             if _movable(net[r]["unit"], x) and _on_beam_path(net[r]["unit"], x)]
    if not sites:
        return None
    rec, x = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[x]
    n_out = _n_out(case, desc)
    # a root initial value has no time axis: only for layers that read nothing from the root in the frame
    frame = _frame_ancestors(unit, x) | {x}
    no_root = not any(r.startswith("base:") for k in frame for r in _refs(unit[k]))
    kinds = ["other", "shared", "hold"] + (["root"] if isinstance(n_out, int) and no_root else [])
    kind = rng.choices(kinds, [0.3, 0.2, 0.25, 0.25][:len(kinds)])[0]
    cond_ref, how_c = _condition(net, unit, rng)
    name = _fresh(unit, "cond")
    x_branch = {x: _branch_desc(case, desc, unit)}
    if kind == "other":
        alt = f"{x}_false"
        other, how = {alt: _branch_desc(case, desc, unit)}, f"a second module {alt} of the same options"
    elif kind == "shared":
        first = _sources(desc)[:1]
        if not first or not _dense_ref(unit, first[0]):
            return None
        scaled = _fresh(unit, "mul")
        shared = _branch_desc(case, desc, unit)
        srcs = shared.get("from")
        shared["from"] = [scaled] + (srcs[1:] if isinstance(srcs, list) else [])
        other = {scaled: {"class": "eval", "from": _lift(first[0], set(_layers(unit))), "eval": "source(0) * 2."},
                 x: shared}
        how = f"the same module {x} (shared parameters) on {first[0]} * 2"
        alt = x
    elif kind == "hold":
        alt = "held"
        other, how = {alt: {"class": "copy", "from": f"base:prev:{name}"}}, f"the held value base:prev:{name}"
    else:
        enc = _encoder(net, rec)
        mean = _fresh(net, f"{enc}_mean")
        net[mean] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
        init = _fresh(net, f"{x}_init")
        net[init] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": n_out}
        alt = "initial"
        other = {alt: {"class": "copy", "from": f"base:base:{init}"}}
        how = f"the root initial value {init} = tanh(linear(mean of {enc}))"
    swap = kind == "root" and rng.random() < 0.5
    true_net, true_out, false_net, false_out = x_branch, x, other, alt
    if swap:
        true_net, true_out, false_net, false_out = other, alt, x_branch, x
    cond: dict[str, Any] = {"class": "cond", "from": [], "condition": cond_ref,
                            "true_layer": _subnet(true_net, true_out), "false_layer": _subnet(false_net, false_out)}
    if rng.random() < 0.8:
        cond["name_scope"] = ""
    for key in ("initial_output", "is_output_layer"):
        if key in desc:
            cond[key] = desc[key]
    _prev_in_branches(cond, {f"base:prev:{x}": f"base:prev:{name}"})
    del unit[x]
    unit[name] = cond
    _rename_in(unit, {x: name, f"prev:{x}": f"prev:{name}"}, skip={name})
    _root_rename(net, rec, {x: name})
    order = "true" if not swap else "false"
    return new, (f"{rec}: {x} computed under nn.Cond {name} (condition {how_c}); {x} in the {order} branch, "
                 f"the other {how}; readers of {x} / prev:{x} read {name} / prev:{name}"
                 + ("" if "name_scope" in cond else "; no name_scope"))


# ----------------------------------------------------------------------------------------------------
# rc-cond-tuple


def _pair_sites(net: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for r in _searching_recs(net):
        unit = net[r]["unit"]
        for y in _layers(unit):
            if not _movable(unit, y):
                continue
            heads = {_head(ref) for ref in _refs(unit[y])}
            for x in sorted(h for h in heads if h in unit and h != y):
                if not _movable(unit, x):
                    continue
                if not (_on_beam_path(unit, x) or _on_beam_path(unit, y)):
                    continue
                if any(h in unit and h != x and x in _frame_ancestors(unit, h) for h in heads):
                    continue
                out.append((r, x, y))
    return out


def op_rc_cond_tuple(case: Case, rng: random.Random) -> Result:
    """Two loop layers (X and a reader Y of X) under one condition: ``nn.Cond`` with a tuple result (Y the
    sub-layer ``cond/Y``, a loop state copied to ``state.Y`` or read as ``prev:cond/Y``), or split into two
    ``nn.Cond`` blocks on the same condition, the second reading the first's result."""
    new, net = _copy(case)
    sites = _pair_sites(net)
    if not sites:
        return None
    rec, x, y = rng.choice(sites)
    unit = net[rec]["unit"]
    dx, dy = unit[x], unit[y]
    cond_ref, how_c = _condition(net, unit, rng)
    name = _fresh(unit, "cond")
    y_prev = any(f"prev:{y}" in _refs(unit[k]) for k in _layers(unit))
    tuple_form = rng.random() < 0.2
    kind = rng.choice(["other", "hold"])
    swap = kind == "other" and rng.random() < 0.35
    if tuple_form:
        state_copy = y_prev and rng.random() < 0.7
        state = _fresh(unit, f"state.{y}") if state_copy else None
        y_cur, prev_y = f"{name}/{y}", (f"prev:{state}" if state_copy else f"prev:{name}/{y}")
        main = {x: _branch_desc(case, dx, unit), y: _branch_desc(case, dy, unit, keep={x})}
        main[y]["is_output_layer"] = True
        if kind == "other":
            xa, ya = f"{x}_false", f"{y}_false"
            other = {xa: _branch_desc(case, dx, unit),
                     ya: _branch_desc(case, dy, unit, keep={x}, renames={x: xa}),
                     y: {"class": "copy", "from": ya, "is_output_layer": True}}
            out_other = xa
        else:
            other = {"held": {"class": "copy", "from": f"base:prev:{name}"},
                     y: {"class": "copy", "from": f"base:{prev_y}", "is_output_layer": True}}
            out_other = "held"
        t_net, t_out, f_net, f_out = (main, x, other, out_other) if not swap else (other, out_other, main, x)
        conds = {name: {"class": "cond", "from": [], "name_scope": "", "condition": cond_ref,
                        "true_layer": _subnet(t_net, t_out), "false_layer": _subnet(f_net, f_out)}}
        _prev_in_branches(conds[name], {f"base:prev:{x}": f"base:prev:{name}", f"base:prev:{y}": f"base:{prev_y}"})
        extra = {}
        if state_copy:
            extra[state] = {"class": "copy", "from": y_cur}
            if "initial_output" in dy:
                extra[state]["initial_output"] = dy["initial_output"]
        how_f = (f"one nn.Cond {name} with a tuple result, {y} the sub-layer {y_cur}; "
                 + (f"prev:{y} -> {prev_y} ({state} = copy of {y_cur})" if state_copy
                    else f"prev:{y} -> {prev_y}" if y_prev else f"no prev:{y}"))
    else:
        name_y = _fresh(set(_layers(unit)) | {name}, "cond")
        y_cur, prev_y = name_y, f"prev:{name_y}"
        main_x = {x: _branch_desc(case, dx, unit)}
        main_y = {y: _branch_desc(case, dy, unit)}
        _map_refs(main_y[y], lambda r: f"base:{name}" + r[len(f"base:{x}"):] if _head(r[5:]) == x
                  and r.startswith("base:") else r)
        if kind == "other":
            other_x = {f"{x}_false": _branch_desc(case, dx, unit)}
            other_y = {f"{y}_false": copy.deepcopy(main_y[y])}
            outs = (f"{x}_false", f"{y}_false")
        else:
            other_x = {"held": {"class": "copy", "from": f"base:prev:{name}"}}
            other_y = {"held": {"class": "copy", "from": f"base:prev:{name_y}"}}
            outs = ("held", "held")
        conds = {}
        for cname, main, mout, oth, oout in ((name, main_x, x, other_x, outs[0]), (name_y, main_y, y, other_y, outs[1])):
            t_net, t_out, f_net, f_out = (main, mout, oth, oout) if not swap else (oth, oout, main, mout)
            conds[cname] = {"class": "cond", "from": [], "name_scope": "", "condition": cond_ref,
                            "true_layer": _subnet(t_net, t_out), "false_layer": _subnet(f_net, f_out)}
            _prev_in_branches(conds[cname], {f"base:prev:{x}": f"base:prev:{name}",
                                             f"base:prev:{y}": f"base:prev:{name_y}"})
        if "initial_output" in dy:
            conds[name_y]["initial_output"] = dy["initial_output"]
        extra = {}
        how_f = f"two nn.Cond blocks {name} ({x}) and {name_y} ({y}, reading base:{name}) on the same condition"
    if "initial_output" in dx:
        conds[name]["initial_output"] = dx["initial_output"]
    if dx.get("is_output_layer") or dy.get("is_output_layer"):
        conds[name]["is_output_layer"] = True
    del unit[x]
    del unit[y]
    unit.update(conds)
    unit.update(extra)
    mapping = {x: name, f"prev:{x}": f"prev:{name}", y: y_cur, f"prev:{y}": prev_y}
    _rename_in(unit, mapping, skip=set(conds) | set(extra))
    _root_rename(net, rec, {x: name, y: y_cur})
    other_how = "a second pair of modules" if kind == "other" else "the previous values held"
    return new, (f"{rec}: ({x}, {y}) computed under condition {how_c}: {how_f}; the "
                 f"{'false' if swap else 'true'} branches compute them, the others {other_how}")


# ----------------------------------------------------------------------------------------------------
# rc-masked-state


def _mask(net: dict[str, Any], unit: dict[str, Any], x: str, rng: random.Random) -> tuple[str, str]:
    labels = _label_choices(unit)
    embeds = [k for k in _layers(unit) if k != x and unit[k].get("class") == "linear"
              and any(s.startswith("prev:") and s[5:] in labels for s in _sources(unit[k]))
              and len(_sources(unit[k])) == 1 and x not in _frame_ancestors(unit, k)]
    after = [c for c in labels if x not in _frame_ancestors(unit, c)]
    kinds = (["prev-label"] if labels else []) + (["cur-label"] if after else []) \
        + (["feature"] if embeds else []) + ["root"]
    weights = ([0.45] if labels else []) + ([0.5] if after else []) + ([0.25] if embeds else []) + [0.15]
    kind = rng.choices(kinds, weights)[0]
    name = _fresh(unit, "mask")
    if kind == "cur-label":
        choice = rng.choice(after)
        value = rng.choice([_eos(unit, choice), 1, 2])
        unit[name] = {"class": "compare", "from": choice, "kind": "not_equal", "value": value}
        return name, f"{name} = ({choice} != {value}), this frame's label"
    if kind == "prev-label":
        choice = rng.choice(labels)
        value = rng.choice([_eos(unit, choice), 1, 2])
        unit[name] = {"class": "compare", "from": f"prev:{choice}", "kind": "not_equal", "value": value}
        return name, f"{name} = (prev:{choice} != {value})"
    if kind == "feature":
        emb = rng.choice(embeds)
        red = _fresh(unit, "reduce")
        unit[red] = {"class": "reduce", "mode": "mean", "axes": "F", "from": emb}
        unit[name] = {"class": "compare", "from": red, "kind": "greater_equal", "value": 0.0}
        return name, f"{name} = (reduce_mean({emb}, F) >= 0)"
    length = _fresh(net, "data_len")
    net[length] = {"class": "length", "from": "data"}
    flag = _fresh(net, "long_seq")
    net[flag] = {"class": "compare", "from": length, "kind": "greater", "value": 3}
    return f"base:{flag}", f"root {flag} = (length(data) > 3), per sequence, no beam"


def op_rc_masked_state(case: Case, rng: random.Random) -> Result:
    """A loop layer on the beam path updated under an ``nn.MaskedComputation`` (returnn_common's forms)."""
    new, net = _copy(case)
    sites = [(r, x) for r in _searching_recs(net) for x in _layers(net[r]["unit"])
             if _movable(net[r]["unit"], x) and _on_beam_path(net[r]["unit"], x)]
    if not sites:
        return None
    rec, x = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[x]
    mask, how_m = _mask(net, unit, x, rng)
    form = rng.choices(["rc", "where", "unmask"], [0.6, 0.2, 0.2])[0]
    has_prev = any(f"prev:{x}" in _refs(unit[k]) for k in _layers(unit))
    if form == "where":
        where = _fresh(unit, "where")
        unit[where] = {"class": "switch", "condition": mask, "true_from": x, "false_from": f"prev:{where}"}
        if "initial_output" in desc:
            unit[where]["initial_output"] = desc.pop("initial_output")
        _rename_in(unit, {x: where, f"prev:{x}": f"prev:{where}"}, skip={where})
        _root_rename(net, rec, {x: where})
        return new, (f"{rec}: {x} kept as state only where {how_m}, the nn.where form: {where} = switch({mask}, "
                     f"{x}, prev:{where}); readers of {x} / prev:{x} read {where} / prev:{where}")
    mc = _fresh(unit, "masked_computation")
    state = _fresh(unit, "unmask" if form == "unmask" else f"state.{x}")
    broken = form == "rc" and has_prev and rng.random() < 0.25
    inner_prev = f"base:prev:{mc}/{x}" if broken else f"base:prev:{state}"
    inner = _branch_desc(case, desc, unit)
    _map_refs(inner, lambda r: inner_prev if r == f"base:prev:{x}" else r)
    inner["is_output_layer"] = True
    layer: dict[str, Any] = {"class": "masked_computation", "from": [], "mask": mask, "name_scope": "",
                             "unit": _subnet({x: inner}, x)}
    del unit[x]
    unit[mc] = layer
    if form == "unmask":
        unit[state] = {"class": "unmask", "from": mc, "mask": mask}
        if "initial_output" in desc:
            unit[state]["initial_output"] = desc["initial_output"]
        _rename_in(unit, {x: state, f"prev:{x}": f"prev:{state}"}, skip={mc, state})
        _root_rename(net, rec, {x: state})
        return new, (f"{rec}: {x} computed in a masked_computation {mc} ({how_m}), the first API's "
                     f"unmask: {state} = unmask({mc}) the state; readers of {x} / prev:{x} read {state} / "
                     f"prev:{state}")
    readers = rng.choices(["sub", "state", "out"], [0.6, 0.2, 0.2])[0]
    cur = {"sub": f"{mc}/{x}", "state": state, "out": mc}[readers]
    if broken:
        prev = f"prev:{mc}/{x}"
        if readers == "state":
            cur = f"{mc}/{x}"
    else:
        prev = f"prev:{state}"
    if not broken and (has_prev or readers == "state"):
        unit[state] = {"class": "copy", "from": f"{mc}/{x}"}
        if "initial_output" in desc:
            unit[state]["initial_output"] = desc["initial_output"]
    _rename_in(unit, {x: cur, f"prev:{x}": prev}, skip={mc, state})
    _root_rename(net, rec, {x: cur})
    how_s = (f"no state copy, prev:{x} -> {prev}" if broken else
             f"{state} = copy of {mc}/{x}, prev:{x} -> {prev}" if state in unit else "no prev reader")
    return new, (f"{rec}: {x} computed in a masked_computation {mc} ({how_m}), subnetwork unit; readers of {x} "
                 f"read {cur}; {how_s}")


# ----------------------------------------------------------------------------------------------------
# rc-cond-label


def op_rc_cond_label(case: Case, rng: random.Random) -> Result:
    """The fed-back label chosen under an ``nn.Cond`` on ``iter_idx < n`` (a forced first label)."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])
             if any({c, f"prev:{c}"} & set(_refs(net[r]["unit"][k])) for k in _layers(net[r]["unit"]) if k != c)]
    if not sites:
        return None
    rec, c = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[c]
    dim = _target_dim(case, _data_target(desc))
    if not isinstance(dim, int):
        return None
    n = rng.choices([1, 2], [0.75, 0.25])[0]
    bos = rng.choice([0, 1]) if dim > 1 else 0
    first = _fresh(unit, "in_prefix")
    unit[first] = {"class": "compare", "from": ":i", "kind": "less", "value": n}
    name = _fresh(unit, "cond")
    form = rng.choices(["choice-in-branch", "cond-after-choice", "cond-on-scores"], [0.2, 0.5, 0.3])[0]
    if form == "cond-on-scores":
        srcs = _sources(desc)
        if len(srcs) != 1 or srcs[0] not in unit:
            return None
        scores = srcs[0]
        kind = desc.get("input_type", "prob")
        if kind == "log_prob":
            expr = f"tf.zeros_like(source(0)) + tf.math.log(tf.one_hot({bos}, {dim}) + 1e-30)"
        else:
            expr = f"tf.zeros_like(source(0)) + tf.one_hot({bos}, {dim})"
        forced = {"forced": {"class": "eval", "from": f"base:{scores}", "eval": expr}}
        same = {"scores": {"class": "copy", "from": f"base:{scores}"}}
        unit[name] = {"class": "cond", "from": [], "name_scope": "", "condition": first,
                      "true_layer": _subnet(forced, "forced"), "false_layer": _subnet(same, "scores")}
        desc["from"] = name
        return new, (f"{rec}: the scores {scores} of {c} under nn.Cond {name} on :i < {n}: true a one-hot of "
                     f"label {bos} ({kind}), false {scores}; {c} chooses over {name}")
    forced_layer = {"class": "eval", "eval": f"tf.zeros_like(source(0)) + {bos}"}
    srcs = _sources(desc)
    if form == "choice-in-branch":
        if len(srcs) != 1 or srcs[0] not in unit:
            return None
        inner = _branch_desc(case, desc, unit)
        inner["target"] = desc.get("target")
        forced = {"argmax": {"class": "reduce", "mode": "argmax", "axes": "F", "from": f"base:{srcs[0]}"},
                  "forced": {**forced_layer, "from": "argmax"}}
        unit[name] = {"class": "cond", "from": [], "name_scope": "", "condition": first,
                      "true_layer": _subnet(forced, "forced"), "false_layer": _subnet({"choice": inner}, "choice")}
        if "initial_output" in desc:
            unit[name]["initial_output"] = desc["initial_output"]
        del unit[c]
        how = f"{c} moved into the false branch (subnetwork, its scores through base:)"
    else:
        chosen = c
        if c == "output":
            chosen = _fresh(unit, "choice")
            unit[chosen] = unit.pop(c)
            _rename_in(unit, {"output": chosen, "prev:output": f"prev:{chosen}"}, skip={chosen})
        src = f"base:{chosen}"
        forced = {"forced": {**forced_layer, "from": src}}
        unit[name] = {"class": "cond", "from": [], "name_scope": "", "condition": first,
                      "true_layer": _subnet(forced, "forced"),
                      "false_layer": _subnet({"label": {"class": "copy", "from": f"base:{chosen}"}}, "label")}
        if "initial_output" in desc:
            unit[name]["initial_output"] = desc["initial_output"]
        how = f"{c} kept at the loop level (as {chosen}), the cond after it (forced from {src})"
        c = chosen
    _rename_in(unit, {f"prev:{c}": f"prev:{name}", c: name}, skip={name})
    _root_rename(net, rec, {c: name})
    if "output" not in unit:
        unit["output"] = {"class": "copy", "from": name}
        how += f", output = copy of {name}"
    return new, (f"{rec}: the fed-back label under nn.Cond {name} on :i < {n} (true: the forced label {bos} as "
                 f"zeros_like + {bos}); {how}; its readers and prev: readers read {name} / prev:{name}")


FRESH92_OPERATORS: tuple[Op, ...] = (
    Op("rc-cond-layer", op_rc_cond_layer, 1.4),
    Op("rc-cond-tuple", op_rc_cond_tuple, 0.9),
    Op("rc-masked-state", op_rc_masked_state, 0.9),
    Op("rc-cond-label", op_rc_cond_label, 0.9),
)
