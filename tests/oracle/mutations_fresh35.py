"""A thirty-seventh set of edit operators (issue 15, tenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Recurrent cells stepped inside a searching decoder loop (an ``rnn_cell`` layer, or a ``rec`` layer with a
string ``unit``, one step per frame): turning a loop state into one, stacking them, reading their hidden
state, putting them in a ``subnetwork`` of the loop and carrying their state over (none a variant of an
earlier operator; no rule was written for any of them):

* ``state-as-cell``: a dense loop ``linear`` that reads a previous frame (its own ``prev:`` value, or
  ``prev:`` of another loop layer that is not a choice; not a layer over the encoder's time axis, like an
  attention's weight feedback) becomes a recurrent cell of the same size: an
  ``rnn_cell`` (``LSTMBlock``, ``standardlstm`` with ``unit_opts``, ``gru``) or a ``rec`` with a string
  unit (``nativelstm2``, ``lstm``, ``standardlstm``); its own ``prev:`` source is dropped (the cell keeps
  its state itself) or kept, and an ``initial_output`` it had becomes the cell's ``initial_state`` (per
  ``c`` / ``h`` for an LSTM when it names a layer);
* ``cell-stack``: a second cell of the same size is stacked on a loop cell (or on a self-recurrent loop
  state): it reads the lower one (maybe also one of the lower one's own sources), the lower one's readers
  in the frame read the new top (or the sum of both, a residual), the readers of its previous frame may
  read ``prev:`` of the top, and the lower cell may read ``prev:`` of the top (a feedback from the top of
  the stack);
* ``cell-hidden-state``: a loop cell's hidden state is read with ``get_last_hidden_state`` (key ``c``,
  ``h`` or ``*``; ``*`` for a GRU): its readers in the frame read the state instead of the output, a
  linear reader also reads it (or ``prev:`` of it, or for an ``rnn_cell`` the state of ``prev:CELL``, the
  spelling of real configs) as an extra source, or it is kept as an output of the loop and a root output layer reads it
  by its path (``REC/STATE``) after the loop; a loop without a cell gets one first (``state-as-cell``);
* ``cell-in-subnet``: a loop cell moves into a ``subnetwork`` of the loop under the cell's name (its
  readers, ``prev:`` ones included, read the subnetwork): the cell reads the subnetwork's input
  (``data``) or its old sources through ``base:`` (``base:prev:X``), the subnetwork's ``output`` is a
  copy of the cell or a linear over the cell and its ``get_last_hidden_state``; a loop without a cell wraps a self-recurrent state made a cell;
* ``carry-state``: a loop cell's ``initial_state`` is a state carried over from outside the sequence:
  ``keep_over_epoch``, ``keep_over_epoch_no_init`` or ``placeholder``, for an LSTM maybe only for
  ``c`` or ``h`` (a dict, the other key ``zeros`` or ``var``).
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
    _layers,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH35_SEED = 20261228
N_FRESH35 = 80

Result = "tuple[Case, str] | None"

#: (layer class, unit, unit_opts) a user steps inside a loop
_CELL_UNITS: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("rnn_cell", "LSTMBlock", None),
    ("rnn_cell", "standardlstm", {"forget_bias": 0.0}),
    ("rnn_cell", "standardlstm", {"forget_bias": 0.0, "use_peepholes": True}),
    ("rnn_cell", "gru", None),
    ("rec", "nativelstm2", None),
    ("rec", "lstm", None),
    ("rec", "standardlstm", {"forget_bias": 0.0}),
)
#: layer classes that take any feature size of their sources
_LINEAR_LIKE = ("linear", "softmax", "rnn_cell", "rec")
_INIT_WORDS = ("zeros", "ones", "var", "keep_over_epoch", "keep_over_epoch_no_init", "placeholder")


def _is_cell(desc: dict[str, Any]) -> bool:
    return desc.get("class") == "rnn_cell" or (desc.get("class") == "rec" and isinstance(desc.get("unit"), str))


def _is_lstm(desc: dict[str, Any]) -> bool:
    unit = desc.get("unit")
    return isinstance(unit, str) and "lstm" in unit.lower()


def _cells(unit: dict[str, Any]) -> list[str]:
    """Loop cells with a fixed size."""
    return [k for k in _layers(unit) if _is_cell(unit[k]) and isinstance(unit[k].get("n_out"), int)]


def _label_refs(unit: dict[str, Any]) -> set[str]:
    """The choices of a loop and the copies of them (sparse labels), this frame and ``prev:``."""
    labels = set(_unit_choices(unit))
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            srcs = {r.removeprefix("prev:") for r in _sources(unit[k])}
            if (k not in labels and unit[k].get("class") in ("copy", "reinterpret_data") and srcs
                    and srcs <= labels and unit[k].get("set_sparse") is not False):
                labels.add(k)
                changed = True
    return labels | {f"prev:{c}" for c in labels}


def _over_encoder(net: dict[str, Any], unit: dict[str, Any]) -> set[str]:
    """Loop layers that (may) keep the encoder's time axis: attention weights, the layers of their energy
    that read an unreduced root layer (``base:X``), and what reads those (this frame or ``prev:``) other
    than an attention that sums over the axis."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") == "softmax_over_spatial":
            out.add(k)
            for a in _frame_ancestors(unit, k):
                roots = [r[len("base:"):].split("/", 1)[0] for r in _sources(unit[a]) if r.startswith("base:")]
                if any(isinstance(net.get(x), dict) and net[x].get("class") != "reduce" for x in roots):
                    out.add(a)
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if k in out or unit[k].get("class") in ("generic_attention", "dot_attention"):
                continue
            heads = {r.removeprefix("prev:") for r in _sources(unit[k])}
            if heads & out:
                out.add(k)
                changed = True
    return out


def _state_sites(net: dict[str, Any], unit: dict[str, Any]) -> list[tuple[str, bool]]:
    """Dense loop ``linear`` layers that read a previous frame and are read in the frame (not labels, not
    over the encoder's time axis): (name, whether it reads its own previous frame)."""
    labels = _label_refs(unit)
    skip = _over_encoder(net, unit)
    out = []
    for k in _layers(unit):
        desc = unit[k]
        srcs = _sources(desc)
        if (k in skip or desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int) or desc.get("target")
                or desc.get("loss") or not _readers(unit, k) or labels & set(srcs)):
            continue
        value = desc.get("from")
        plain = isinstance(value, str) or (isinstance(value, list) and len(srcs) == len(value))
        if plain and any(s.startswith("prev:") for s in srcs):
            out.append((k, f"prev:{k}" in srcs))
    return out


def _self_states(net: dict[str, Any], unit: dict[str, Any]) -> list[str]:
    return [k for k, own in _state_sites(net, unit) if own]


def _new_cell(rng: random.Random, sources: list[str], n_out: int) -> dict[str, Any]:
    cls, cell_unit, opts = rng.choice(_CELL_UNITS)
    cell: dict[str, Any] = {"class": cls, "unit": cell_unit, "from": list(sources), "n_out": n_out}
    if opts:
        cell["unit_opts"] = dict(opts)
    return cell


def _make_cell(unit: dict[str, Any], name: str, rng: random.Random, keep_prob: float = 0.25) -> str:
    """Turn the loop ``linear`` ``name`` into a recurrent cell of the same size in place; a short text."""
    desc = unit[name]
    own = f"prev:{name}"
    srcs = _sources(desc)
    keep = own not in srcs or rng.random() < keep_prob
    new_from = srcs if keep else [s for s in srcs if s != own]
    if not new_from:
        new_from, keep = [own], True
    cell = _new_cell(rng, new_from, desc["n_out"])
    init = desc.get("initial_output")
    if init is not None and init not in (0, "zeros"):
        if isinstance(init, str) and init not in _INIT_WORDS and _is_lstm(cell):
            cell["initial_state"] = {"c": init, "h": init}
        else:
            cell["initial_state"] = init
    for key in ("is_output_layer", "trainable", "reuse_params", "collocate_with"):
        if key in desc:
            cell[key] = desc[key]
    unit[name] = cell
    how = f"{cell['class']} {cell['unit']}" + (f" {cell['unit_opts']}" if "unit_opts" in cell else "")
    init_txt = f", initial_state {cell['initial_state']}" if "initial_state" in cell else ""
    own_txt = "" if own not in srcs else (", keeping its prev: source" if keep else ", its prev: source dropped")
    return f"{name} made a {how} cell{own_txt}{init_txt}"


def _cell_or_state(net: dict[str, Any], *, need_readers: bool = False) -> list[tuple[str, str, bool]]:
    """(rec, layer, is a cell already) of every loop cell, else of every self-recurrent loop state."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        cells = [c for c in _cells(unit) if not need_readers or _readers(unit, c)]
        if cells:
            out += [(rec, c, True) for c in cells]
        else:
            out += [(rec, s, False) for s in _self_states(net, unit)]
    return out


def op_state_as_cell(case: Case, rng: random.Random) -> Result:
    """A dense loop state that reads a previous frame becomes a recurrent cell of the same size."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k, own in _state_sites(net, unit):
            sites += [(rec, k)] * (3 if own else 1)
    if not sites:
        return None
    rec, name = rng.choice(sites)
    return new, f"{rec}/{_make_cell(net[rec]['unit'], name, rng)}"


def op_cell_stack(case: Case, rng: random.Random) -> Result:
    """A second cell stacked on a loop cell (or a self-recurrent state); the lower one's readers read it."""
    new, net = _copy(case)
    sites = _cell_or_state(net, need_readers=True)
    if not sites:
        return None
    rec, low, _ = rng.choice(sites)
    unit = net[rec]["unit"]
    n_out = unit[low]["n_out"]
    readers = [r for r in _readers(unit, low) if unit[r].get("class") != "get_last_hidden_state"]
    if not readers:
        return None
    prev_readers = _readers(unit, low, f"prev:{low}")
    top = _fresh(unit, f"{low}_top")
    srcs = [low]
    extra = [s for s in _sources(unit[low]) if s not in (f"prev:{low}",) and not s.startswith(":")]
    if extra and rng.random() < 0.3:
        srcs.append(rng.choice(sorted(extra)))
    unit[top] = _new_cell(rng, srcs, n_out)
    parts = [f"{rec}/{top}: {unit[top]['class']} {unit[top]['unit']} over {', '.join(srcs)}"]
    if rng.random() < 0.25:
        res = _fresh(unit, f"{top}_res")
        unit[res] = {"class": "combine", "kind": "add", "from": [low, top]}
        _redirect(unit, readers, low, res)
        parts.append(f"{', '.join(readers)} read {res} ({low} + {top})")
    else:
        _redirect(unit, readers, low, top)
        parts.append(f"{', '.join(readers)} read {top}")
    others = [r for r in prev_readers if r != top]
    if others and rng.random() < 0.5:
        _redirect(unit, others, f"prev:{low}", f"prev:{top}")
        parts.append(f"{', '.join(others)} read prev:{top}")
    if rng.random() < 0.3:
        _add_source(unit[low], f"prev:{top}")
        parts.append(f"{low} also reads prev:{top}")
    return new, "; ".join(parts)


def _state_key(desc: dict[str, Any], rng: random.Random, *, same_size: bool) -> tuple[str, int]:
    n = desc["n_out"]
    if not _is_lstm(desc):
        return "*", n
    key = rng.choice(["c", "h"] if same_size else ["c", "h", "*"])
    return key, (2 * n if key == "*" else n)


def op_cell_hidden_state(case: Case, rng: random.Random) -> Result:
    """A loop cell's hidden state read with ``get_last_hidden_state`` in the frame, the next frame or after
    the loop."""
    new, net = _copy(case)
    sites = _cell_or_state(net)
    if not sites:
        return None
    rec, cell, is_cell = rng.choice(sites)
    unit = net[rec]["unit"]
    made = "" if is_cell else f"{rec}/{_make_cell(unit, cell, rng)}; "
    desc = unit[cell]
    readers = _readers(unit, cell)
    readers = [r for r in readers if unit[r].get("class") != "get_last_hidden_state"]
    users = sorted({r for r in readers + _readers(unit, cell, f"prev:{cell}")
                    if unit[r].get("class") in _LINEAR_LIKE and r != cell})
    mode = rng.choice(["replace", "extra", "extra", "root"])
    if mode == "replace" and not readers:
        mode = "extra"
    if mode == "extra" and not users:
        mode = "root"
    state = _fresh(unit, f"{cell}_state")
    if mode == "replace":
        key, dim = _state_key(desc, rng, same_size=True)
        unit[state] = {"class": "get_last_hidden_state", "from": cell, "key": key, "n_out": dim}
        _redirect(unit, readers, cell, state)
        return new, f"{made}{rec}: {', '.join(readers)} read {state}, the state {key!r} of {cell}"
    if mode == "extra":
        key, dim = _state_key(desc, rng, same_size=False)
        user = rng.choice(users)
        how = rng.choice(["frame", "prev", "of-prev"] if desc["class"] == "rnn_cell" else ["frame", "prev"])
        if how == "of-prev":
            unit[state] = {"class": "get_last_hidden_state", "from": f"prev:{cell}", "key": key, "n_out": dim}
            ref = state
        else:
            unit[state] = {"class": "get_last_hidden_state", "from": cell, "key": key, "n_out": dim}
            ref = state if how == "frame" else f"prev:{state}"
        if ref == state and cell != user and user in _frame_ancestors(unit, cell):
            ref = f"prev:{state}"  # the cell reads the user: this frame's state would make a loop
        _add_source(unit[user], ref)
        return new, (f"{made}{rec}/{user} also reads {ref} ({state}: state {key!r} of "
                     f"{unit[state]['from']})")
    key, dim = _state_key(desc, rng, same_size=False)
    unit[state] = {"class": "get_last_hidden_state", "from": cell, "key": key, "n_out": dim,
                   "is_output_layer": True}
    out = _fresh(net, f"{rec}_{cell}_states")
    if rng.random() < 0.5:
        net[out] = {"class": "reduce", "mode": "mean", "axes": "T", "from": f"{rec}/{state}", "is_output_layer": True}
        what = "averaged over the output frames"
    else:
        net[out] = {"class": "copy", "from": f"{rec}/{state}", "is_output_layer": True}
        what = "copied"
    return new, f"{made}{rec}/{state} (state {key!r} of {cell}) is an output; root {out} reads {rec}/{state}, {what}"


def _to_inner(ref: str) -> str:
    """A reference of the loop seen from inside a subnetwork of the loop."""
    if ref in _INIT_WORDS:
        return ref
    return f"base:{ref}"


def _inner_init(value: Any) -> Any:
    if isinstance(value, str):
        return _to_inner(value)
    if isinstance(value, dict):
        return {k: _inner_init(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inner_init(v) for v in value]
    return value


def op_cell_in_subnet(case: Case, rng: random.Random) -> Result:
    """A loop cell moves into a ``subnetwork`` of the loop under its name."""
    new, net = _copy(case)
    sites = _cell_or_state(net)
    if not sites:
        return None
    rec, cell, is_cell = rng.choice(sites)
    unit = net[rec]["unit"]
    made = "" if is_cell else f"{rec}/{_make_cell(unit, cell, rng, keep_prob=0.0)}; "
    desc = unit[cell]
    srcs = _sources(desc)
    inner = {k: v for k, v in desc.items() if k not in ("from", "is_output_layer")}
    if "initial_state" in inner:
        inner["initial_state"] = _inner_init(inner["initial_state"])
    sub: dict[str, Any] = {"class": "subnetwork"}
    if rng.random() < 0.5 or not srcs:
        sub["from"] = list(srcs)
        inner["from"] = "data"
        feed = "the subnetwork's input"
    else:
        sub["from"] = []
        inner["from"] = [_to_inner(s) for s in srcs]
        feed = ", ".join(inner["from"])
    layers: dict[str, Any] = {"cell": inner}
    if rng.random() < 0.3:
        key, dim = _state_key(inner, rng, same_size=False)
        layers["cell_state"] = {"class": "get_last_hidden_state", "from": "cell", "key": key, "n_out": dim}
        layers["output"] = {"class": "linear", "activation": "tanh", "from": ["cell", "cell_state"],
                            "n_out": desc["n_out"]}
        out_txt = f"a linear over cell and its state {key!r}"
    else:
        layers["output"] = {"class": "copy", "from": "cell"}
        out_txt = "a copy of cell"
    sub["subnetwork"] = layers
    if desc.get("is_output_layer"):
        sub["is_output_layer"] = True
    unit[cell] = sub
    return new, (f"{made}{rec}/{cell} is a subnetwork: its cell ({desc['class']} {desc['unit']}) reads "
                 f"{feed}, output {out_txt}")


def op_carry_state(case: Case, rng: random.Random) -> Result:
    """A loop cell's ``initial_state`` is carried over from outside the sequence."""
    new, net = _copy(case)
    sites = [(rec, c) for rec in _searching_recs(net) for c in _cells(net[rec]["unit"])]
    if not sites:
        sites = [(rec, s) for rec in _searching_recs(net) for s in _self_states(net, net[rec]["unit"])]
    if not sites:
        return None
    rec, cell = rng.choice(sites)
    unit = net[rec]["unit"]
    made = "" if _is_cell(unit[cell]) else f"{rec}/{_make_cell(unit, cell, rng)}; "
    desc = unit[cell]
    kind = rng.choice(["keep_over_epoch", "keep_over_epoch", "keep_over_epoch_no_init", "placeholder"])
    if _is_lstm(desc) and rng.random() < 0.4:
        key = rng.choice(["c", "h"])
        other = "h" if key == "c" else "c"
        value: Any = {key: kind, other: rng.choice(["zeros", "var"])}
    else:
        value = kind
    old = desc.get("initial_state")
    desc["initial_state"] = value
    was = f" (was {old!r})" if old is not None else ""
    return new, f"{made}{rec}/{cell} initial_state {value!r}{was}"


FRESH35_OPERATORS: tuple[Op, ...] = (
    Op("state-as-cell", op_state_as_cell, 1),
    Op("cell-stack", op_cell_stack, 1),
    Op("cell-hidden-state", op_cell_hidden_state, 1),
    Op("cell-in-subnet", op_cell_in_subnet, 1),
    Op("carry-state", op_carry_state, 1),
)
