"""A ninety-sixth set of edit operators (issue 15, twentieth session), written and seeded before it was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

Bug-report reduction: a user whose beam search crashed (or who wants to show a search that works) cuts the
network down to a minimal reproducer for an issue on rwth-i6/returnn, as the maintainers ask for a test case
(and as users promise one: "create a minimal config which reproduces the error", #703), and as the reproducers
of the tracker and of RETURNN's own tests read: rwth-i6/returnn#450 (a ``split`` in the loop, the net cut to ``embed`` / ``split`` / ``output_prob``
with ``base:encoder``), #556 (a loss on an output layer of a subnetwork in the loop), #755
(``test_MaskedComputationLayer_beam``: the decoder reduced to an embedding, a masked computation, a softmax and
the choice), #1606 (the ``end`` layer of a reduced decoder), robin-p-schmitt's reduced ``test_concat_new_dim_tag``
(an encoder that is just ``data``, a loop of a few layers) and the ``tests/test_TFNetworkRecLayer.py`` search
tests (``encoder`` a single ``linear`` of ``data``, the loop an embedding of ``prev:output``, one state, a
``softmax`` and a ``choice``). Every operator applies 1 to 4 reduction steps, chained, on and around a
searching decoder of the base: its own kind of step first, then steps drawn from the whole menu. A rough shape
record of every layer (feature dim, sparse or dense, time axis or not: ``n_out``, the target's dim, a
``copy``'s concatenation, a ``reduce`` over time, ...) keeps the cuts plausible: a reader whose parameters
adapt to a new input dim (``linear``, ``softmax``, ``rnn_cell``, a ``rec`` with a string unit, ``conv``,
``layer_norm``) may read a value of another dim; a reader that needs the dim (``combine``, ``eval``,
``generic_attention``, ``choice``, ...) reads one of the same shape, or a constant placeholder of the old
shape. The reduced net always keeps a rec unit with a choice that RETURNN constructs (from ``output``, an
output layer or a loss layer); layers nobody reads any more are removed as a user removes them (none a
variant of an earlier operator; no rule was written for any of them):

* ``repro-cut-layer``: delete one layer (of the searching loop, or of the root: encoder layers, layers after
  the loop, a root ``decide``) and re-route its readers to one of its sources (``prev:X`` readers to
  ``prev:`` of the source, ``base:X`` readers and ``max_len_from('base:X')`` to the source at the root), or to
  a zero ``constant`` of the old shape where the readers need the shape and the source has another. Targets:
  the frame's search-choice resolution after a layer between ``prev:CHOICE`` and the scores is gone
  (``_SubnetworkRecCell`` template construction, ``SearchChoices.translate_to_common_search_beam``), a root
  reader of the beamed rec output without the ``decide`` it had (root ``decide`` layers with readers are
  cut as often as loop layers; ``DecideLayer``, ``SelectSearchSourcesLayer.select_if_needed``), the
  ``_SubnetworkRecCell._opt_search_resolve`` of accumulated loop outputs, the loop's ``end`` and
  ``ChoiceLayer`` source checks.
* ``repro-stub``: replace a sub-graph by a ``constant`` / ``variable`` of its shape (a frame value of the
  loop: attention context, state, readout, label embedding; a root value without time read through
  ``base:``), three times in four with a batch axis of its own (``with_batch_dim`` / ``add_batch_axis``, as the
  readers' concatenation wants one), else without; the layers only it read removed; or collapse the encoder
  to the input ``data`` (where the dims agree or every reader adapts) or to a single ``linear`` of ``data``
  with the old dim, the dead encoder layers (LSTMs, pooling, CTC) removed, ``max_seq_len`` following.
  Targets: a loop value with a batch but no beam met with the beamed frame (``SearchBeam.get_combined_beam``,
  ``translate_to_common_search_beam``), loop output layers that no longer depend on the choice
  (``_SubnetworkRecCell._construct_output_layers_moved_out`` / ``get_loop_acc_layer``), a choice whose scores
  no longer depend on the previous label, and ``RecLayer`` / ``max_len_from`` on the new encoder.
* ``repro-freeze-state``: drop a state the loop feeds back: a ``prev:X`` source removed from its reader's
  list, replaced by a zero ``constant`` / a ``variable`` of X's shape in the loop, or by a root
  ``constant`` / ``variable`` (its initial value) read through ``base:``; the label feedback (a layer reading
  only ``prev:CHOICE``) replaced by a ``variable`` of its shape. Targets: the ``prev:`` search-choice
  resolution (``_TemplateLayer.get_search_choices``, ``TFNetwork._get_all_search_choices``, "has beam but no
  search choices"), ``ChoiceLayer`` on scores without a previous-frame beam, and the moving of layers out of
  a loop that no longer depends on its own output (``_SubnetworkRecCell._move_outside_loop``).
* ``repro-shrink-loop``: shrink the loop to the fewest layers that still search: the choice's ``softmax``
  reads only the previous label (its embedding, or ``prev:CHOICE`` itself), maybe with an encoder summary
  (a root ``reduce`` ``mean`` over time, or a root value without time, through ``base:``), or (a fifth of the
  time) only the encoder summary, no label feedback left; every loop layer the choice, the ``end`` and the
  output layers no longer need removed; or drop the losses / auxiliary outputs
  (``loss`` options everywhere, output layers nobody reads, at the root and in the loop) and what only they
  read. Targets: the loop's construction with few layers (everything moved out or not,
  ``_SubnetworkRecCell`` templates), the choice's ``search_choices`` with a one-layer frame, the end layer's
  choice checks.
* ``repro-flatten``: flatten a nested scope into its parent, renaming references: a ``subnetwork`` (at the
  root or in the loop) inlined (its sub-layers prefixed with its name, its ``output`` taking its name,
  ``data`` its source, ``base:`` one level less), a ``masked_computation`` unwrapped to its unit (the mask
  dropped), a ``cond`` replaced by one of its branches. Targets: the subnetwork's own search-choice handling
  (``SubnetworkLayer`` / ``_SubnetworkRecCell`` sub-layer beams), ``MaskedComputationLayer`` beams and
  ``CondLayer`` branches, once gone: whether the failure stays.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

from .mutations import (
    REF_KEYS,
    Case,
    Op,
    _copy,
    _fresh,
    _layers,
    _map_refs,
    _recs,
    _root_ancestors,
    _root_refs,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH94_SEED = 20270156
N_FRESH94 = 80

Result = "tuple[Case, str] | None"
Shape = tuple["int | None", str, "bool | None"]  # (feature dim, "dense" / "sparse" / "other", has time)
Step = Callable[[Case, random.Random], "str | None"]

#: Reader classes whose parameters adapt to the input's feature dim.
ADAPTIVE = ("linear", "softmax", "rnn_cell", "conv", "layer_norm", "batch_norm", "self_attention")
#: Classes whose output dim follows their (single) input's.
PASS_THROUGH = ("copy", "dropout", "activation", "reduce", "pool", "reinterpret_data", "softmax_over_spatial",
                "decide", "scale_gradient", "cast")
UNKNOWN: Shape = (None, "other", None)
NAME = r"[\w.\-]"


# ----------------------------------------------------------------------------------------------------
# Strings, mentions and scopes


def _strings(value: Any) -> Iterator[str]:
    """Every string under ``value`` (lists and dicts, not ``__dim__`` declarations)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict) and "__dim__" not in value:
        for v in value.values():
            yield from _strings(v)


def _top(desc: dict[str, Any]) -> dict[str, Any]:
    """A layer dict without its nested scopes (``unit`` dict, ``subnetwork``, ``cond`` branches)."""
    return {k: v for k, v in desc.items() if not (k in ("unit", "subnetwork", "true_layer", "false_layer")
                                                  and isinstance(v, dict))}


def _nested(desc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in desc.items() if k not in _top(desc)}


def _heads(s: str) -> list[str]:
    """Layer names a string may refer to: itself and quoted parts, ``base:`` / ``prev:`` stripped, paths cut."""
    out = []
    for c in [s, *re.findall(r"'([^']*)'", s), *re.findall(r'"([^"]*)"', s)]:
        while c.startswith(("base:", "prev:")):
            c = c.split(":", 1)[1]
        out.append(c.split("/", 1)[0])
    return out


def _loose_deps(desc: dict[str, Any], names: set[str]) -> set[str]:
    """Names of ``names`` any string of ``desc`` (nested scopes included) may refer to (over-approximate)."""
    return {h for s in _strings(desc) for h in _heads(s) if h in names}


def _root_keep(net: dict[str, Any]) -> list[str]:
    """Root layers RETURNN constructs by themselves (``output``, extra nets' outputs, losses, output layers)."""
    return [k for k in _layers(net) if k == "output" or ":" in k or net[k].get("loss")
            or net[k].get("is_output_layer")]


def _closure(layers: dict[str, Any], seeds: list[str]) -> set[str]:
    names = set(_layers(layers))
    seen: set[str] = set()
    stack = [s for s in seeds if s in names]
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        stack.extend(sorted(_loose_deps(layers[k], names) - seen))
    return seen


def _constructed_search(net: dict[str, Any]) -> bool:
    """Whether a searching rec is among what RETURNN constructs at the root."""
    alive = _closure(net, _root_keep(net))
    return any(r in alive for r in _searching_recs(net))


def _dce_root(net: dict[str, Any]) -> list[str]:
    """Remove root layers nothing constructed reads; the removed names."""
    alive = _closure(net, _root_keep(net))
    dead = [k for k in _layers(net) if k not in alive]
    for k in dead:
        del net[k]
    return dead


def _unit_keep(net: dict[str, Any], rec: str) -> list[str]:
    unit = net[rec]["unit"]
    keep = [k for k in _layers(unit) if k in ("output", "end") or unit[k].get("class") == "choice"
            or unit[k].get("is_output_layer")]
    outside = [s for k in _layers(net) if k != rec for s in _strings(net[k])]
    outside += [s for s in _strings(_top(net[rec]))]
    for k in _layers(unit):
        if any(s == f"{rec}/{k}" or s.startswith(f"{rec}/{k}/") for s in outside):
            keep.append(k)
    return keep


def _dce_unit(net: dict[str, Any], rec: str) -> list[str]:
    unit = net[rec]["unit"]
    alive = _closure(unit, _unit_keep(net, rec))
    dead = [k for k in _layers(unit) if k not in alive]
    for k in dead:
        del unit[k]
    return dead


def _root_mentioned(net: dict[str, Any], name: str, skip: str | None = None) -> bool:
    """Whether anything (but layer ``skip``) still refers to root layer ``name``."""
    base = re.compile(r"base:" + re.escape(name) + rf"(?!{NAME})")
    quoted = re.compile(r"['\"]" + re.escape(name) + r"['\"/]")
    for k in _layers(net):
        if k == skip:
            continue
        for s in _strings(_top(net[k])):
            if s == name or s.startswith(name + "/") or quoted.search(s) or base.search(s):
                return True
        if any(base.search(s) for s in _strings(_nested(net[k]))):
            return True
    return False


def _unit_mentioned(net: dict[str, Any], rec: str, name: str, skip: str | None = None) -> bool:
    """Whether anything (but unit layer ``skip``) still refers to loop layer ``rec``/``name``."""
    unit = net[rec]["unit"]
    base = re.compile(r"base:(prev:)?" + re.escape(name) + rf"(?!{NAME})")
    for k in _layers(unit):
        if k == skip:
            continue
        for s in _strings(_top(unit[k])):
            if s in (name, f"prev:{name}") or s.startswith((name + "/", f"prev:{name}/")) or base.search(s):
                return True
        if any(base.search(s) for s in _strings(_nested(unit[k]))):
            return True
    path = f"{rec}/{name}"
    return any(s == path or s.startswith(path + "/") for k in _layers(net) for s in _strings(net[k])
               if k != rec) or any(s == path for s in _strings(_top(net[rec])))


# ----------------------------------------------------------------------------------------------------
# The rough shape record


class _Shapes:
    """(dim, kind, time) of root and loop layers, computed on demand."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.net = case["network"]
        self.memo: dict[tuple[str | None, str], Shape] = {}

    def data(self, key: str) -> Shape:
        dim = _target_dim(self.case, key)
        return (dim, "sparse" if key in _sparse_keys(self.case) else "dense", True)

    def ref(self, rec: str | None, ref: str) -> Shape:
        if ref == "data" or ref.startswith("data:"):
            return self.data(ref[5:] if ref.startswith("data:") else "data") if rec is None else UNKNOWN
        if ref.startswith("base:"):
            return self.ref(None, ref[5:]) if rec is not None else UNKNOWN
        if ref.startswith("prev:"):
            return self.layer(rec, ref[5:]) if rec is not None else UNKNOWN
        if ":" in ref or "/" in ref:
            return UNKNOWN
        return self.layer(rec, ref)

    def layer(self, rec: str | None, name: str) -> Shape:
        key = (rec, name)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = UNKNOWN  # cycle guard (prev: recurrences)
        layers = self.net if rec is None else self.net[rec]["unit"]
        desc = layers.get(name)
        out = self._compute(rec, desc) if isinstance(desc, dict) else UNKNOWN
        self.memo[key] = out
        return out

    def _compute(self, rec: str | None, d: dict[str, Any]) -> Shape:
        cls = d.get("class")
        refs = _sources(d) if "from" in d or rec is not None else ["data"]  # RETURNN's default source
        srcs = [self.ref(rec, s) for s in refs]
        times = [t for _, _, t in srcs]
        time = True if True in times else None if None in times or (not srcs and rec is None) else False
        n_out = d.get("n_out")
        target = d.get("target") if isinstance(d.get("target"), str) else None
        if cls == "choice":
            return (_target_dim(self.case, target), "sparse", False if rec is not None else time)
        if cls in ADAPTIVE or (cls == "rec" and isinstance(d.get("unit"), str)):
            if cls in ("layer_norm", "batch_norm"):
                return srcs[0] if len(srcs) == 1 else UNKNOWN
            dim = n_out if isinstance(n_out, int) else _target_dim(self.case, target) if cls == "softmax" else None
            return (dim, "dense", time)
        if cls == "rec" and isinstance(d.get("unit"), dict):
            dim, kind, _ = self._unit_output(d)
            return (dim, kind, True)
        if cls in PASS_THROUGH and cls not in ("decide", "reduce", "softmax_over_spatial") and len(srcs) > 1:
            dims = [s[0] for s in srcs]
            ok = all(isinstance(x, int) for x in dims) and all(s[1] == "dense" for s in srcs)
            return (sum(dims) if ok else None, "dense" if ok else "other", time)
        if cls in PASS_THROUGH or cls == "eval" or (cls == "combine" and srcs):
            if not srcs:
                return UNKNOWN
            dim, kind, t = srcs[0]
            if cls == "eval":
                out_type = d.get("out_type")
                if isinstance(out_type, dict) and isinstance(out_type.get("dim"), int):
                    dim = out_type["dim"]
                if len(srcs) > 1 or isinstance(out_type, dict):
                    kind = "other" if kind != "dense" else kind
            if cls == "reduce":
                axes = str(d.get("axis", d.get("axes", "")))
                if axes.lower() in ("t", "time", "['t']", "stag:time"):
                    t = False
                elif "f" in axes.lower():
                    return UNKNOWN
            if cls == "cast":
                kind = "other"
            return (dim, kind, time if cls != "reduce" else t)
        if cls == "reduce_out":
            pieces = d.get("num_pieces")
            dim = srcs[0][0] if srcs else None
            ok = isinstance(dim, int) and isinstance(pieces, int) and pieces
            return (dim // pieces if ok else None, "dense", time)
        if cls in ("generic_attention", "dot_attention"):
            base = d.get("base")
            dim = self.ref(rec, base)[0] if isinstance(base, str) else None
            return (dim, "dense", False)
        if cls in ("constant", "variable"):
            shape = d.get("shape")
            dim = shape[-1] if isinstance(shape, list) and shape and isinstance(shape[-1], int) else None
            return (dim, "dense" if d.get("dtype", "float32") == "float32" else "other", False)
        return (None, "other", time)

    def _unit_output(self, d: dict[str, Any]) -> Shape:
        for rec in _recs(self.net):
            if self.net[rec] is d:
                return self.layer(rec, "output")
        return UNKNOWN


def _readers(net: dict[str, Any], rec: str | None, name: str) -> list[tuple[str | None, str]]:
    """(scope, layer) of the layers that read ``name`` of scope ``rec`` (root: also loop readers via
    ``base:``; loop: also root readers via ``REC/name``)."""
    out: list[tuple[str | None, str]] = []
    if rec is None:
        for k in _layers(net):
            if name in _top_refs(net[k]):
                out.append((None, k))
        for r in _recs(net):
            unit = net[r]["unit"]
            out += [(r, k) for k in _layers(unit) if f"base:{name}" in _top_refs(unit[k])]
        return out
    unit = net[rec]["unit"]
    out += [(rec, k) for k in _layers(unit) if k != name and {name, f"prev:{name}"} & set(_top_refs(unit[k]))]
    out += [(None, k) for k in _layers(net) if f"{rec}/{name}" in _top_refs(net[k])]
    return out


def _top_refs(desc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in REF_KEYS:
        out += list(_strings(desc.get(key)))
    return out


def _change_ok(net: dict[str, Any], rec: str | None, name: str, depth: int = 0, *, sparse: bool = False) -> bool:
    """Whether every reader of ``name`` copes with a new feature dim (adapts, or passes it on to readers
    that do); a ``sparse`` new value only where it is the reader's one source (an embedding)."""
    if depth > 6:
        return False
    for r, k in _readers(net, rec, name):
        layers = net if r is None else net[r]["unit"]
        d = layers[k]
        cls = d.get("class")
        if sparse and len(_sources(d)) != 1:
            return False
        if (cls in ADAPTIVE and cls not in ("layer_norm", "batch_norm") or not sparse and cls in ADAPTIVE
                or (cls == "rec" and isinstance(d.get("unit"), str))):
            continue
        if cls in PASS_THROUGH and len(_sources(d)) == 1 and not (r is None and rec is not None):
            if _change_ok(net, r, k, depth + 1, sparse=sparse):
                continue
        return False
    return True


def _frame_value(shape: Shape) -> bool:
    dim, kind, time = shape
    return isinstance(dim, int) and kind == "dense" and time is False


def _stub(rng: random.Random, dim: int, *, batch: float = 0.75) -> tuple[dict[str, Any], str]:
    """A constant / variable of feature dim ``dim``, with a batch axis of its own (probability ``batch``,
    as the readers' concatenation wants one) or without."""
    with_batch = rng.random() < batch
    if rng.random() < 0.5:
        desc: dict[str, Any] = {"class": "constant", "value": rng.choice([0.0, 0.0, 1.0]), "shape": [dim]}
        if with_batch:
            desc["with_batch_dim"] = True
        what = f"constant {desc['value']} of shape [{dim}]" + (" with batch dim" if with_batch else "")
        return desc, what
    desc = {"class": "variable", "shape": [dim]}
    if rng.random() < 0.3:
        desc["init"] = rng.choice(["glorot_uniform", 0.1])
    if with_batch:
        desc["add_batch_axis"] = True
    return desc, f"variable of shape [{dim}]" + (" with batch axis" if with_batch else "")


def _is_label_choice(unit: dict[str, Any], name: str) -> bool:
    d = unit[name]
    return (d.get("class") == "choice" and isinstance(d.get("target"), str)
            and d.get("input_type", "prob") in ("prob", "log_prob"))


def _msl_refs(net: dict[str, Any], rec: str) -> set[str]:
    """Root layers a rec's ``max_seq_len`` expression names (``max_len_from('base:X')``)."""
    msl = net[rec].get("max_seq_len")
    if not isinstance(msl, str):
        return set()
    return {q[5:] for q in re.findall(r"'([^']*)'", msl) if q.startswith("base:") and q[5:] in net}


def _where(rec: str | None, name: str) -> str:
    return name if rec is None else f"{rec}/{name}"


# ----------------------------------------------------------------------------------------------------
# Steps (each edits the case in place and says what it did, or returns None and leaves it)


PROTECTED_CLASSES = ("choice", "data", "variable", "constant")
#: Classes whose ``from`` defaults to nothing (all others read ``data`` by default).
SOURCELESS = ("constant", "variable", "subnetwork", "cond", "rec", "range", "random", "rand_int")


def _cut_sites(net: dict[str, Any]) -> list[tuple[str | None, str]]:
    sites: list[tuple[str | None, str]] = []
    for k in _layers(net):
        d = net[k]
        if k == "output" or ":" in k or d.get("class") in PROTECTED_CLASSES or not _sources(d):
            continue
        if d.get("class") == "rec" and isinstance(d.get("unit"), dict):
            continue
        sites.append((None, k))
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            d = unit[k]
            if k in ("output", "end") or d.get("class") in PROTECTED_CLASSES or not _sources(d):
                continue
            sites.append((rec, k))
    return sites


def _prev_of(src: str) -> str | None:
    """What a ``prev:X`` reader reads once X is replaced by its source ``src``."""
    if src.startswith("base:"):
        return src
    if ":" in src or "/" in src:
        return None
    return f"prev:{src}"


def step_cut(case: Case, rng: random.Random) -> str | None:
    """Delete a layer and re-route its readers to one of its sources (or to a zero constant): the user
    tries a few layers until one can go."""
    sites = [(rec, k) for rec, k in _cut_sites(case["network"]) if _readers(case["network"], rec, k)]
    for _ in range(5):
        if not sites:
            return None
        net = case["network"]
        weights = [3.0 if rec is not None else 3.0 if net[k].get("class") == "decide" else 1.5 for rec, k in sites]
        site = rng.choices(sites, weights)[0]
        sites.remove(site)
        trial = copy.deepcopy(case["network"])
        desc = _cut_one({**case, "network": trial}, rng, *site)
        if desc is not None:
            case["network"] = trial
            return desc
    return None


def _cut_one(case: Case, rng: random.Random, rec: str | None, name: str) -> str | None:
    net = case["network"]
    shapes = _Shapes(case)
    layers = net if rec is None else net[rec]["unit"]
    desc = layers[name]
    srcs = [s for s in _sources(desc) if s != ":i"]
    if not srcs:
        return None
    old = shapes.layer(rec, name)
    same = [s for s in srcs if shapes.ref(rec, s) == old and old[0] is not None]
    src = rng.choice(same) if same and rng.random() < 0.8 else rng.choice(srcs)
    new_shape = shapes.ref(rec, src)
    readers = _readers(net, rec, name)
    if rec is not None and any(r is None for r, _ in readers):
        return None  # read at the root by path: the user keeps it
    safe = (new_shape == old and old[0] is not None) or (
        new_shape[2] == old[2] and old[2] is not None and "other" not in (new_shape[1], old[1])
        and _change_ok(net, rec, name, sparse=new_shape[1] == "sparse"))
    placeholder = None
    if not safe:
        if rec is None or not _frame_value(old) or any(
                layers[k].get("class") == "choice" for _, k in readers):
            return None
        placeholder = _fresh(layers, f"{name}_stub")
    del layers[name]
    how = ""
    if placeholder is not None:
        layers[placeholder] = {"class": "constant", "value": 0.0, "shape": [old[0]], "with_batch_dim": True}
        target, prev_target = placeholder, placeholder
        how = f" (a zero constant {placeholder} of shape [{old[0]}]: {src!r} has another shape)"
    else:
        target, prev_target = src, _prev_of(src) if rec is not None else None
    if rec is None:
        for k in _layers(net):
            _map_refs(net[k], lambda r: target if r == name else r)
        for r in _recs(net):
            for k in _layers(net[r]["unit"]):
                _map_refs(net[r]["unit"][k], lambda x: f"base:{target}" if x == f"base:{name}" else x)
            msl = net[r].get("max_seq_len")
            if isinstance(msl, str):
                net[r]["max_seq_len"] = msl.replace(f"'base:{name}'", f"'base:{target}'")
        if _root_mentioned(net, name):
            return None
        return f"cut root layer {name} ({desc.get('class')}), its readers read {target!r}{how}"
    if prev_target is None and any(f"prev:{name}" in _top_refs(layers[k]) for _, k in readers):
        return None
    for k in _layers(layers):
        _map_refs(layers[k], lambda r: target if r == name else prev_target if r == f"prev:{name}" else r)
    if _unit_mentioned(net, rec, name):
        return None
    return f"cut {rec}/{name} ({desc.get('class')}), its readers read {target!r}{how}"


def step_stub(case: Case, rng: random.Random) -> str | None:
    """Replace a frame value of the loop (or a root value without time) and what only it reads by a
    ``constant`` / ``variable`` of its shape."""
    net = case["network"]
    shapes = _Shapes(case)
    sites: list[tuple[str | None, str]] = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        feeds_choice = {s for c in _unit_choices(unit) for s in _sources(unit[c])}
        alive = _closure(unit, _unit_keep(net, rec))
        for k in _layers(unit):
            d = unit[k]
            if (k in ("output", "end") or k in feeds_choice or k not in alive or d.get("class") in PROTECTED_CLASSES
                    or not _frame_value(shapes.layer(rec, k))):
                continue
            sites.append((rec, k))
    alive_root = _closure(net, _root_keep(net))
    for k in _layers(net):
        d = net[k]
        if (k == "output" or ":" in k or k not in alive_root or d.get("class") in PROTECTED_CLASSES + ("rec", "decide")
                or not _frame_value(shapes.layer(None, k)) or not any(r for r, _ in _readers(net, None, k))):
            continue
        sites.append((None, k))
    if not sites:
        return None
    rec, name = rng.choices(sites, [3.0 if r is not None else 1.0 for r, _ in sites])[0]
    layers = net if rec is None else net[rec]["unit"]
    dim = shapes.layer(rec, name)[0]
    assert isinstance(dim, int)
    old_cls = layers[name].get("class")
    desc, what = _stub(rng, dim)
    for key in ("is_output_layer",):
        if key in layers[name]:
            desc[key] = layers[name][key]
    layers[name] = desc
    dead = _dce_unit(net, rec) if rec is not None else []
    dead_root = _dce_root(net)
    gone = [_where(rec, k) for k in dead] + dead_root
    extra = f"; removed what only it read: {', '.join(gone)}" if gone else ""
    return f"replace {_where(rec, name)} ({old_cls}) by a {what}{extra}"


def step_collapse_encoder(case: Case, rng: random.Random) -> str | None:
    """Collapse the encoder a searching decoder reads to the input data or one ``linear`` of it."""
    net = case["network"]
    shapes = _Shapes(case)
    if not _searching_recs(net):
        return None
    rec = rng.choice(_searching_recs(net))
    anc = _root_ancestors(net, rec)
    for k in _msl_refs(net, rec):
        anc |= {k} | _root_ancestors(net, k)
    cands = []
    for k in sorted(anc):
        d = net[k]
        if ":" in k or k == "output" or d.get("class") in ("rec",) and isinstance(d.get("unit"), dict):
            continue
        dim, kind, time = shapes.layer(None, k)
        if not isinstance(dim, int) or kind != "dense" or time is not True:
            continue
        if d.get("class") == "linear" and _sources(d) in (["data"], ["data:data"]):
            continue  # already a single linear of the data
        cands.append(k)
    if not cands:
        return None
    pref = [k for k in cands if "enc" in k]
    name = rng.choice(pref if pref and rng.random() < 0.7 else cands)
    dim = shapes.layer(None, name)[0]
    data = shapes.data("data")
    to_data = (data[0] == dim and data[1] == "dense") or _change_ok(net, None, name, sparse=data[1] == "sparse")
    if to_data and rng.random() < 0.45:
        del net[name]
        for k in _layers(net):
            _map_refs(net[k], lambda r: "data" if r == name else r)
        for r in _recs(net):
            for k in _layers(net[r]["unit"]):
                _map_refs(net[r]["unit"][k], lambda x: "base:data" if x == f"base:{name}" else x)
            msl = net[r].get("max_seq_len")
            if isinstance(msl, str):
                net[r]["max_seq_len"] = msl.replace(f"'base:{name}'", "'base:data'")
        if _root_mentioned(net, name):
            return None
        how = f"the input data (dim {data[0]}) in place of {name}"
    else:
        act = rng.choice(["tanh", None])
        net[name] = {"class": "linear", "activation": act, "from": "data", "n_out": dim}
        how = f"{name} a single linear ({act}) of data, n_out {dim}"
    dead = _dce_root(net)
    return f"collapse the encoder: {how}" + (f"; removed {len(dead)} dead root layers" if dead else "")


def step_freeze_state(case: Case, rng: random.Random) -> str | None:
    """Turn a ``prev:X`` state (or the label feedback) into a constant, an initial value, or nothing."""
    net = case["network"]
    shapes = _Shapes(case)
    sites: list[tuple[str, str, str]] = []  # (rec, reader, X)
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            if k == "end" or unit[k].get("class") == "choice":
                continue
            for s in _sources(unit[k]):
                if s.startswith("prev:") and s[5:] in unit:
                    sites.append((rec, k, s[5:]))
    if not sites:
        return None
    rec, reader, x = rng.choice(sites)
    unit = net[rec]["unit"]
    rdesc = unit[reader]
    srcs = _sources(rdesc)
    xshape = shapes.layer(rec, x)
    mode_w = {"drop": 0.0, "local": 0.0, "root": 0.0, "label": 0.0}
    can_drop = (len(srcs) > 1 and isinstance(rdesc.get("from"), list)
                and (rdesc.get("class") in ADAPTIVE or rdesc.get("class") == "copy"))
    if can_drop:
        mode_w["drop"] = 1.0
    if _frame_value(xshape):
        mode_w["local"] = 1.2
        mode_w["root"] = 1.0
    if (xshape[1] == "sparse" and srcs == [f"prev:{x}"] and isinstance(rdesc.get("n_out"), int)
            and rdesc.get("class") in ("linear", "copy")):
        mode_w["label"] = 1.5
    modes = [m for m in mode_w if mode_w[m] > 0]
    if not modes:
        return None
    mode = rng.choices(modes, [mode_w[m] for m in modes])[0]
    if mode == "drop":
        rdesc["from"] = [s for s in rdesc["from"] if s != f"prev:{x}"]
        return f"drop the state prev:{x} from {rec}/{reader} (its other sources stay)"
    if mode == "label":
        desc, what = _stub(rng, rdesc["n_out"])
        unit[reader] = desc
        dead = _dce_unit(net, rec)
        extra = f"; removed {', '.join(dead)}" if dead else ""
        return f"drop the label feedback: {rec}/{reader} (embedding of prev:{x}) becomes a {what}{extra}"
    dim = xshape[0]
    assert isinstance(dim, int)
    if mode == "local":
        name = _fresh(unit, f"{x}_init")
        desc, what = _stub(rng, dim)
        unit[name] = desc
        new_ref = name
    else:
        name = _fresh(net, f"{x}_init")
        desc, what = _stub(rng, dim)
        net[name] = desc
        new_ref = f"base:{name}"
    everywhere = rng.random() < 0.5
    targets = [k for k in _layers(unit) if k != "end" and f"prev:{x}" in _sources(unit[k])] if everywhere else [reader]
    for k in targets:
        d = unit[k]
        if d.get("from") == f"prev:{x}":
            d["from"] = new_ref
        elif isinstance(d.get("from"), list):
            d["from"] = [new_ref if s == f"prev:{x}" else s for s in d["from"]]
    dead = _dce_unit(net, rec)
    extra = f"; removed {', '.join(dead)}" if dead else ""
    where = "in the loop" if mode == "local" else "at the root, read through base:"
    return f"freeze the state prev:{x}: {', '.join(targets)} read {name} ({what}, {where}) instead{extra}"


def step_shrink_loop(case: Case, rng: random.Random) -> str | None:
    """The choice's softmax reads only the previous label (maybe with an encoder summary); the rest of the
    loop goes."""
    net = case["network"]
    shapes = _Shapes(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            srcs = _sources(unit[c])
            if (_is_label_choice(unit, c) and len(srcs) == 1 and srcs[0] in unit
                    and unit[srcs[0]].get("class") in ("softmax", "linear")):
                sites.append((rec, c, srcs[0]))
    if not sites:
        return None
    rec, choice, prob = rng.choice(sites)
    unit = net[rec]["unit"]
    embs = [k for k in _layers(unit) if k != prob and unit[k].get("class") == "linear"
            and _sources(unit[k]) == [f"prev:{choice}"]]
    embs += [k for k in _layers(unit) if k != prob and unit[k].get("class") == "linear"
             and _sources(unit[k]) == [choice] and unit[k].get("initial_output") is not None]
    if embs and rng.random() < 0.75:
        emb = rng.choice(embs)
        label = emb if _sources(unit[emb]) == [f"prev:{choice}"] else f"prev:{emb}"
    else:
        label = f"prev:{choice}"
    new_from = [label]
    summary = ""
    no_label = rng.random() < 0.2  # "is the label feedback needed at all for the crash?"
    if no_label or rng.random() < 0.6 and label != f"prev:{choice}":  # a sparse label does not concatenate
        enc = [k for k in sorted(_root_refs(net, rec) | _msl_refs(net, rec))
               if ":" not in k and shapes.layer(None, k)[1] == "dense" and isinstance(shapes.layer(None, k)[0], int)]
        if enc:
            e = rng.choice(enc)
            if shapes.layer(None, e)[2] is False:
                new_from.append(f"base:{e}")
                summary = f" and base:{e}"
            else:
                mean = _fresh(net, f"{e}_mean")
                net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": e}
                new_from.append(f"base:{mean}")
                summary = f" and base:{mean} (a root reduce mean over time of {e})"
            if no_label:
                new_from = new_from[1:]
                label, summary = summary[len(" and "):], " (no label feedback left)"
    before = set(_layers(unit))
    unit[prob]["from"] = new_from if len(new_from) > 1 else new_from[0]
    dead = _dce_unit(net, rec)
    dead_root = _dce_root(net)
    if not dead and set(_layers(unit)) == before and not summary:
        return None
    extra = f"; removed {len(dead)} loop layers ({', '.join(dead[:6])}{', ...' if len(dead) > 6 else ''})"
    if dead_root:
        extra += f" and {len(dead_root)} root layers"
    return f"shrink {rec}: {prob} reads only {label}{summary}{extra if dead else ''}"


def step_strip_aux(case: Case, rng: random.Random) -> str | None:
    """Drop the losses, or auxiliary output layers nobody reads, and what only they read."""
    net = case["network"]
    mode = rng.choice(["losses", "outputs"])
    if mode == "losses":
        n = 0

        def strip(layers: dict[str, Any]) -> None:
            nonlocal n
            for k in _layers(layers):
                d = layers[k]
                if "loss" in d:
                    n += 1
                    for key in ("loss", "loss_opts", "loss_scale", "loss_only_on_non_search"):
                        d.pop(key, None)
                for sub in _nested(d).values():
                    if isinstance(sub, dict):
                        strip(sub if "class" not in sub else {"<inner>": sub})

        strip(net)
        if not n:
            return None
        dead = _dce_root(net)
        extra = f"; removed {', '.join(dead)} (no longer constructed)" if dead else ""
        return f"drop all {n} losses{extra}"
    sites: list[tuple[str | None, str]] = []
    for k in _layers(net):
        if (k != "output" and ":" not in k and net[k].get("is_output_layer") and k not in _searching_recs(net)
                and not _readers(net, None, k) and not _root_mentioned(net, k, skip=k)):
            sites.append((None, k))
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _layers(unit):
            d = unit[k]
            if (k not in ("output", "end") and d.get("class") != "choice" and d.get("is_output_layer")
                    and not _unit_mentioned(net, rec, k, skip=k)):
                sites.append((rec, k))
    if not sites:
        return None
    rec, name = rng.choice(sites)
    if rec is None:
        del net[name]
        if not _constructed_search(net):
            return None
        dead = _dce_root(net)
    else:
        del net[rec]["unit"][name]
        dead = _dce_unit(net, rec)
    extra = f"; removed {', '.join(dead)}" if dead else ""
    return f"drop the auxiliary output {_where(rec, name)}{extra}"


def _flatten_sites(net: dict[str, Any]) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for rec in [None, *_searching_recs(net)]:
        layers = net if rec is None else net[rec]["unit"]
        for k in _layers(layers):
            d = layers[k]
            cls = d.get("class")
            if cls == "subnetwork" and isinstance(d.get("subnetwork"), dict) and ":" not in k:
                out.append((rec, k))
            elif rec is not None and cls == "masked_computation" and isinstance(d.get("unit"), dict):
                out.append((rec, k))
            elif rec is not None and cls == "cond" and isinstance(d.get("true_layer"), dict):
                out.append((rec, k))
    return out


def _inline_ref(ref: str, renamed: dict[str, str], data_src: str | None) -> str | None:
    """A subnetwork's reference seen from its parent scope (None: cannot be written there)."""
    if ref.startswith("base:"):
        return ref[5:]
    if ref == "data":
        return data_src
    pre = "prev:" if ref.startswith("prev:") else ""
    body = ref[len(pre):]
    head, _, rest = body.partition("/")
    if head in renamed:
        return pre + renamed[head] + (f"/{rest}" if rest else "")
    return ref


def step_flatten(case: Case, rng: random.Random) -> str | None:
    """Inline a subnetwork into its parent scope, unwrap a masked computation, or keep one branch of a cond."""
    net = case["network"]
    sites = _flatten_sites(net)
    if not sites:
        return None
    rec, name = rng.choice(sites)
    layers = net if rec is None else net[rec]["unit"]
    d = layers[name]
    cls = d.get("class")
    if cls == "masked_computation":
        inner = copy.deepcopy(d["unit"])
        inner["from"] = d.get("from", [])
        for key in ("is_output_layer",):
            if key in d:
                inner[key] = d[key]
        layers[name] = inner
        return f"unwrap the masked computation {_where(rec, name)} (mask {d.get('mask')!r} dropped): its unit" \
               f" ({inner.get('class')}) reads {inner['from']!r} every frame"
    if cls == "cond":
        branch = rng.choice(["true_layer", "false_layer"]) if isinstance(d.get("false_layer"), dict) else "true_layer"
        inner = copy.deepcopy(d[branch])
        for key in ("is_output_layer",):
            if key in d:
                inner[key] = d[key]
        layers[name] = inner
        return f"replace the cond {_where(rec, name)} by its {branch} ({inner.get('class')}), condition dropped"
    sub = d["subnetwork"]
    srcs = _sources(d) if "from" in d or rec is not None else ["data"]  # RETURNN's default source
    data_src = srcs[0] if len(srcs) == 1 else None
    renamed: dict[str, str] = {}
    taken = set(layers)
    for k in _layers(sub):
        if k == "output":
            renamed[k] = name
        else:
            renamed[k] = _fresh(taken, f"{name}_{k}")
            taken.add(renamed[k])
    if "output" not in renamed:
        return None
    new_layers: dict[str, Any] = {}
    for k in _layers(sub):
        inner = copy.deepcopy(sub[k])
        if any(isinstance(v, dict) for v in _nested(inner).values()):
            return None
        if "from" not in inner and inner.get("class") not in SOURCELESS:
            if data_src is None:
                return None
            inner["from"] = "data"  # the sub-layer read the subnetwork's input by default
        bad = False

        def fix(ref: str) -> str:
            nonlocal bad
            out = _inline_ref(ref, renamed, data_src)
            if out is None:
                bad = True
                return ref
            return out

        _map_refs(inner, fix)
        if bad:
            return None
        new_layers[renamed[k]] = inner
    for key in ("is_output_layer",):
        if key in d:
            new_layers[name][key] = d[key]
    del layers[name]
    layers.update(new_layers)
    # readers of name/sub paths
    for k in _layers(layers):
        _map_refs(layers[k], lambda r: _path_fix(r, name, renamed))
    if rec is not None:
        for k in _layers(net):
            _map_refs(net[k], lambda r: _path_fix(r, f"{rec}/{name}", {a: f"{rec}/{b}" for a, b in renamed.items()}))
    text = json.dumps(net)
    if f'"{name}/' in text or f'"prev:{name}/' in text:
        return None
    where = "the loop " + rec if rec is not None else "the root"
    return (f"inline the subnetwork {_where(rec, name)} into {where}: {', '.join(sorted(new_layers))}"
            f" (data -> {data_src!r})")


def _path_fix(ref: str, name: str, renamed: dict[str, str]) -> str:
    for pre in ("", "prev:", "base:"):
        if ref.startswith(f"{pre}{name}/"):
            sub = ref[len(pre + name) + 1:].split("/", 1)[0]
            if sub in renamed:
                rest = ref[len(pre + name) + 1 + len(sub):]
                return f"{pre}{renamed[sub]}{rest}"
    return ref


# ----------------------------------------------------------------------------------------------------
# Operators


MENU: tuple[tuple[str, Step, float], ...] = (
    ("cut", step_cut, 3.0),
    ("stub", step_stub, 1.5),
    ("collapse", step_collapse_encoder, 1.5),
    ("freeze", step_freeze_state, 1.5),
    ("shrink", step_shrink_loop, 0.8),
    ("strip", step_strip_aux, 1.5),
    ("flatten", step_flatten, 1.0),
)
N_STEPS = (1, 2, 3, 4)
N_STEPS_W = (0.35, 0.3, 0.2, 0.15)


def _try(step: Step, case: Case, rng: random.Random) -> tuple[Case, str] | None:
    trial = {k: copy.deepcopy(v) for k, v in case.items()}
    desc = step(trial, rng)
    if desc is None or trial["network"] == case["network"]:
        return None
    return trial, desc


def _reduce(case: Case, rng: random.Random, first: tuple[Step, ...]) -> Result:
    new, net = _copy(case)
    if not _searching_recs(net):
        return None
    done: list[str] = []
    cur = new
    for step in first:
        res = _try(step, cur, rng)
        if res is not None:
            cur, desc = res
            done.append(desc)
            break
    if not done:
        return None
    k = rng.choices(N_STEPS, N_STEPS_W)[0]
    tries = 0
    while len(done) < k and tries < 12:
        tries += 1
        step = rng.choices([m[1] for m in MENU], [m[2] for m in MENU])[0]
        res = _try(step, cur, rng)
        if res is None:
            continue
        cur, desc = res
        done.append(desc)
    if not _constructed_search(cur["network"]):
        return None
    json.dumps(cur["network"])
    return cur, f"bug-report reduction, {len(done)} step(s): " + "; then ".join(done)


def op_repro_cut_layer(case: Case, rng: random.Random) -> Result:
    """Delete a layer and re-route its readers (then maybe more reduction steps)."""
    return _reduce(case, rng, (step_cut,))


def op_repro_stub(case: Case, rng: random.Random) -> Result:
    """Replace a sub-graph by a constant / variable, or collapse the encoder (then maybe more steps)."""
    first = (step_stub, step_collapse_encoder) if rng.random() < 0.5 else (step_collapse_encoder, step_stub)
    return _reduce(case, rng, first)


def op_repro_freeze_state(case: Case, rng: random.Random) -> Result:
    """Drop a fed-back state (then maybe more steps)."""
    return _reduce(case, rng, (step_freeze_state,))


def op_repro_shrink_loop(case: Case, rng: random.Random) -> Result:
    """Shrink the loop to the fewest layers, or drop losses / auxiliary outputs (then maybe more steps)."""
    first = (step_shrink_loop, step_strip_aux) if rng.random() < 0.65 else (step_strip_aux, step_shrink_loop)
    return _reduce(case, rng, first)


def op_repro_flatten(case: Case, rng: random.Random) -> Result:
    """Inline a subnetwork / unwrap a masked computation / keep a cond branch (then maybe more steps)."""
    return _reduce(case, rng, (step_flatten,))


FRESH94_OPERATORS: tuple[Op, ...] = (
    Op("repro-cut-layer", op_repro_cut_layer, 3.5),
    Op("repro-stub", op_repro_stub, 2),
    Op("repro-freeze-state", op_repro_freeze_state, 2),
    Op("repro-shrink-loop", op_repro_shrink_loop, 2),
    Op("repro-flatten", op_repro_flatten, 6),
)
