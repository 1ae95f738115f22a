"""Seeded mutants of small, real search networks, and how searchgraph's predictions score on them.

``generate(base_cases, n, seed)`` changes networks that RETURNN builds in search mode the ways users
do: rewire a source (to another layer of the loop, to ``prev:`` / ``base:``, a root layer to a loop
layer), add a second choice, change a beam size, drop ``initial_output`` or ``target``, move a layer
between the loop and the root, set ``search: False`` on a choice, insert a ``decide``, read a target
key inside the loop, read ``prev:prev:``, drop the loop's ``end`` / ``max_seq_len``. Every operator
takes ``(case, rng)`` and returns a mutated deep copy with a one-line description, or None when it
does not apply. The same seed gives the same mutants.

``evaluate(mutants, results)`` compares RETURNN's answers (``oracle.run_oracle``) with searchgraph's
(``oracle.analyze_case``): positive = RETURNN fails with a search-related error, by where it raised
(``runner.search_related_reason``: search-choice resolution, beam selection, backtracking, the beam
layers' own checks, a missing target / data key; not the wording of the message); searchgraph's
prediction = the analysis names an error. ``report(outcomes)`` prints the confusion matrix and the
disagreements.
"""

from __future__ import annotations

import copy
import graphlib
import json
import random
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from searchgraph.errors import SearchgraphError

from .oracle import KNOWN_GAPS, analyze_case, corpus_cases, own_cases

Case = dict[str, Any]
Mutant = tuple[str, Case, str]
Operator = Callable[[Case, random.Random], "tuple[Case, str] | None"]
Slot = tuple[str, "int | None"]

#: Layer options whose string values (or list items) name layers.
REF_KEYS = ("from", "mask", "masked_from", "condition", "true_from", "false_from", "position",
            "explicit_search_source", "explicit_search_sources", "base", "base_ctx", "weights", "start",
            "size", "window_start", "window_size", "size_base", "keys", "values", "offset", "repetitions",
            "extra_deps", "initial_output")
#: The case fields RETURNN's run reads (everything else is documentation).
CASE_KEEP = ("network", "extern_data", "num_outputs", "num_inputs", "config", "flags")
BEAM_SIZES = (1, 2, 3, 4, 5, 8, 12)
MAX_CORPUS_CONSTRUCT_S = 1.5
#: The test's seed and number of mutants.
SEED = 20240611
N_MUTANTS = 360


# ----------------------------------------------------------------------------------------------------
# Base networks


def base_cases() -> list[tuple[str, Case]]:
    """Small networks RETURNN builds: our own cases expected to build and the corpus cases that
    build in under 1.5 s; the known gaps are left out (their disagreement would carry over)."""
    out = [(cid, case) for cid, case in own_cases() if case.get("expect", {}).get("ok")]
    out += [(cid, case) for cid, case, oracle in corpus_cases()
            if oracle.get("ok") and (oracle.get("construct_s") or 99.0) < MAX_CORPUS_CONSTRUCT_S]
    return [(cid, case) for cid, case in out if cid not in KNOWN_GAPS]


# ----------------------------------------------------------------------------------------------------
# Reading and rewriting references


def _slots(desc: dict[str, Any], keys: Iterable[str] = REF_KEYS) -> list[Slot]:
    """The (option, list index or None) places of a layer dict that hold a reference string."""
    out: list[Slot] = []
    for key in keys:
        value = desc.get(key)
        if isinstance(value, str):
            out.append((key, None))
        elif isinstance(value, list):
            out.extend((key, i) for i, v in enumerate(value) if isinstance(v, str))
    return out


def _walk(value: Any, fn: Callable[[str], str]) -> Any:
    """``value`` with every string in it (through lists and dicts, not ``__dim__``) mapped by ``fn``."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, dict) and "__dim__" not in value:
        return {k: _walk(v, fn) for k, v in value.items()}
    return value


def _refs(desc: dict[str, Any]) -> list[str]:
    """Every string under a reference option of a layer dict (nested lists included)."""
    out: list[str] = []

    def keep(ref: str) -> str:
        out.append(ref)
        return ref

    for key in REF_KEYS:
        _walk(desc.get(key), keep)
    return out


def _inner_nets(desc: dict[str, Any]) -> list[dict[str, Any]]:
    """The layer dicts of sub-networks nested in a (non-rec) layer: ``subnetwork``, and the
    ``unit`` of a ``masked_computation`` (a layer dict, possibly a subnetwork itself)."""
    out = []
    if isinstance(desc.get("subnetwork"), dict):
        out.append(desc["subnetwork"])
    unit = desc.get("unit")
    if desc.get("class") != "rec" and isinstance(unit, dict):
        out.append({"<unit>": unit})
    return out


def _deps(desc: dict[str, Any]) -> list[str]:
    """``_refs`` plus what nested sub-networks read from this layer's scope (``base:X`` -> ``X``)."""
    out = _refs(desc)
    for sub in _inner_nets(desc):
        for inner in sub.values():
            if isinstance(inner, dict):
                out += [r[len("base:"):] for r in _deps(inner) if r.startswith("base:")]
    return out


def _map_refs(desc: dict[str, Any], fn: Callable[[str], str]) -> None:
    """Rewrite every reference string of a layer dict in place."""
    for key in REF_KEYS:
        if key in desc:
            desc[key] = _walk(desc[key], fn)


def _get(desc: dict[str, Any], slot: Slot) -> str:
    key, i = slot
    return desc[key] if i is None else desc[key][i]


def _put(desc: dict[str, Any], slot: Slot, value: str) -> None:
    key, i = slot
    if i is None:
        desc[key] = value
    else:
        desc[key][i] = value


def _sources(desc: dict[str, Any]) -> list[str]:
    """``from`` as a list of strings (non-string items left out)."""
    value = desc.get("from")
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _add_source(desc: dict[str, Any], ref: str) -> None:
    value = desc.get("from")
    if isinstance(value, str):
        desc["from"] = [value, ref]
    elif isinstance(value, list):
        desc["from"] = [*value, ref]
    else:
        desc["from"] = [ref]


def _head(ref: str) -> str | None:
    """The local layer a plain (unprefixed) reference names: ``lm/output`` -> ``lm``; None for
    ``prev:``, ``base:``, ``data:`` and ``:i`` references."""
    return None if ":" in ref else ref.split("/", 1)[0]


def _layers(net: dict[str, Any]) -> list[str]:
    """Layer names of a net dict (``#`` keys are RETURNN's comments / hash keys, not layers)."""
    return sorted(k for k, v in net.items() if isinstance(v, dict) and not k.startswith("#"))


def _recs(net: dict[str, Any]) -> list[str]:
    """Root rec layers with a dict unit."""
    return [k for k in _layers(net) if net[k].get("class") == "rec" and isinstance(net[k].get("unit"), dict)]


def _frame_ancestors(unit: dict[str, Any], name: str) -> set[str]:
    """Unit layers ``name`` depends on in the same frame (plain references, transitively)."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        desc = unit.get(stack.pop())
        if not isinstance(desc, dict):
            continue
        for ref in _deps(desc):
            head = _head(ref)
            if head in unit and head not in seen:
                seen.add(head)
                stack.append(head)
    return seen


def _root_refs(net: dict[str, Any], name: str, *, keep_self: bool = False) -> set[str]:
    """Root layers ``name`` reads directly (a rec also reads its unit's ``base:`` layers); itself
    only with ``keep_self``."""
    desc = net[name]
    out = {_head(ref) for ref in _deps(desc)}
    unit = desc.get("unit") if desc.get("class") == "rec" else None
    if isinstance(unit, dict):
        for inner in unit.values():
            if isinstance(inner, dict):
                for ref in _deps(inner):
                    if ref.startswith("base:") and ref != "base:data" and not ref.startswith("base:data:"):
                        out.add(ref[len("base:"):].split("/", 1)[0])
    return {n for n in out if n in net and (keep_self or n != name)}


def _root_ancestors(net: dict[str, Any], name: str) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        for dep in _root_refs(net, stack.pop()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


def _beamed_roots(net: dict[str, Any]) -> set[str]:
    """Root layers that (roughly) carry a beam: choices, searching decoders and what reads them,
    stopping at decide layers."""
    def origin(name: str) -> bool:
        desc = net[name]
        if desc.get("class") == "choice":
            return desc.get("search", True) is not False
        unit = desc.get("unit") if desc.get("class") == "rec" else None
        return isinstance(unit, dict) and any(
            isinstance(v, dict) and v.get("class") == "choice" and v.get("search", True) is not False
            for v in unit.values())

    beamed = {n for n in _layers(net) if origin(n)}
    changed = True
    while changed:
        changed = False
        for name in _layers(net):
            if name in beamed or net[name].get("class") == "decide":
                continue
            if _root_refs(net, name) & beamed:
                beamed.add(name)
                changed = True
    return beamed


def has_cycle(net: dict[str, Any]) -> bool:
    """Whether the root layers (a rec with its unit's ``base:`` inputs) or a loop frame (plain
    references) form a dependency cycle: RETURNN and searchgraph both reject those outright."""
    graphs = [{k: _root_refs(net, k, keep_self=True) for k in _layers(net)}]
    for rec in _recs(net):
        unit = net[rec]["unit"]
        graphs.append({k: {h for r in _deps(unit[k]) if (h := _head(r)) in unit}
                       for k in _layers(unit)})
    for graph in graphs:
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError:
            return True
    return False


def _fresh(names: Iterable[str], base: str) -> str:
    taken = set(names)
    if base not in taken:
        return base
    i = 2
    while f"{base}{i}" in taken:
        i += 1
    return f"{base}{i}"


def _target_keys(case: Case) -> list[str]:
    """Extern-data keys that are not available for inference (the targets), else every non-input key."""
    ext = case.get("extern_data") or {}
    keys = sorted(k for k, v in ext.items() if isinstance(v, dict) and v.get("available_for_inference") is False)
    if not keys:
        keys = sorted(k for k in ext if k not in ("data",))
    if not keys:
        keys = sorted(k for k in (case.get("num_outputs") or {}) if k != "data")
    return keys


def _sparse_keys(case: Case) -> list[str]:
    """Extern-data keys with sparse (label) data: what a choice or a rec layer can take as target."""
    out = {k for k, v in (case.get("extern_data") or {}).items()
           if isinstance(v, dict) and (v.get("sparse") or v.get("sparse_dim"))}
    out |= {k for k, v in (case.get("num_outputs") or {}).items() if isinstance(v, list) and v[1:] == [1]}
    return sorted(out)


def _data_keys(case: Case) -> list[str]:
    return sorted(set(case.get("extern_data") or {}) | set(case.get("num_outputs") or {}))


def _copy(case: Case) -> tuple[Case, dict[str, Any]]:
    new = {k: copy.deepcopy(case[k]) for k in CASE_KEEP if k in case}
    return new, new["network"]


def _scopes(net: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(rec or None for the root, its layer dicts) of the root and every rec unit."""
    return [(None, net)] + [(r, net[r]["unit"]) for r in _recs(net)]


def _searching_recs(net: dict[str, Any]) -> list[str]:
    """Root rec layers whose unit holds a choice."""
    return [r for r in _recs(net) if _unit_choices(net[r]["unit"])]


def _unit_choices(unit: dict[str, Any]) -> list[str]:
    return [k for k in _layers(unit) if unit[k].get("class") == "choice"]


def _choice_sites(net: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(rec or None for the root, choice name) of every choice."""
    out: list[tuple[str | None, str]] = [(None, k) for k in _layers(net) if net[k].get("class") == "choice"]
    for rec in _recs(net):
        out.extend((rec, c) for c in _unit_choices(net[rec]["unit"]))
    return out


def _site_desc(net: dict[str, Any], rec: str | None, name: str) -> dict[str, Any]:
    return net[name] if rec is None else net[rec]["unit"][name]


def _where(rec: str | None, name: str) -> str:
    return name if rec is None else f"{rec}/{name}"


def _readers(layers: dict[str, Any], name: str, ref: str | None = None) -> list[str]:
    """The layers of ``layers`` (other than ``name``) with a reference ``ref`` (default: ``name``,
    this frame's value) among their reference options."""
    ref = name if ref is None else ref
    out = []
    for k in _layers(layers):
        seen: list[str] = []
        _map_refs(dict(layers[k]), lambda r, seen=seen: seen.append(r) or r)
        if ref in seen and k != name:
            out.append(k)
    return out


def _read_decoder(net: dict[str, Any], rng: random.Random) -> tuple[str, list[str]] | None:
    """A searching rec layer with readers at the root, drawn at random, and its readers."""
    sites = [r for r in _searching_recs(net) if _readers(net, r)]
    if not sites:
        return None
    rec = rng.choice(sites)
    return rec, _readers(net, rec)


def _redirect(layers: dict[str, Any], readers: list[str], old: str, new: str) -> None:
    """Let ``readers`` reference ``new`` wherever they referenced ``old``."""
    for k in readers:
        _map_refs(layers[k], lambda r: new if r == old else r)


def _interpose(layers: dict[str, Any], readers: list[str], old: str, name: str, desc: dict[str, Any]) -> str:
    """Add ``desc`` under a fresh ``name`` and let ``readers`` read it instead of ``old``."""
    new = _fresh(layers, name)
    layers[new] = desc
    _redirect(layers, readers, old, new)
    return new


def _encoder_sites(net: dict[str, Any], rec: str, exclude: tuple[str, ...]) -> list[str]:
    """Root layers ``rec`` reads (transitively), sorted, but those of the classes in ``exclude``."""
    return [k for k in sorted(_root_ancestors(net, rec)) if net[k].get("class") not in exclude]


# ----------------------------------------------------------------------------------------------------
# Operators


def _target_dim(case: Case, key: object) -> int | None:
    """The vocabulary size of extern data ``key`` (``dim``, a ``sparse_dim``, or ``num_outputs``)."""
    if not isinstance(key, str):
        return None
    ext = (case.get("extern_data") or {}).get(key)
    if isinstance(ext, dict):
        if isinstance(ext.get("dim"), int):
            return ext["dim"]
        sparse = ext.get("sparse_dim")
        if isinstance(sparse, dict):
            dim = sparse.get("__dim__", {}).get("dimension")
            return dim if isinstance(dim, int) else None
    num = (case.get("num_outputs") or {}).get(key)
    if isinstance(num, list) and num and isinstance(num[0], int):
        return num[0]
    return num if isinstance(num, int) else None


def op_rewire_in_loop(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Replace one source of a loop layer by another layer of the frame, ``prev:X``, ``base:Y`` or
    ``data:KEY``."""
    new, net = _copy(case)
    recs = _recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    layers = [k for k in _layers(unit) if _sources(unit[k])]
    if not layers:
        return None
    # a choice's input decides its scores' shape: rewiring it mostly gives shape errors, so less often
    # (and 'end' takes a bool per hypothesis: most new sources break its shape)
    name = rng.choices(layers, [0.3 if unit[k].get("class") == "choice" else 0.2 if k == "end" else 1.0
                                for k in layers])[0]
    desc = unit[name]
    slots = _slots(desc, ("from",))
    if not slots:
        return None
    slot = rng.choice(slots)
    old = _get(desc, slot)
    kind = rng.choices(["frame", "prev", "base", "data"], [4, 3, 3, 1])[0]
    if kind == "frame":
        # not the layer itself nor anything that depends on it in this frame (no cycles)
        cands = [k for k in _layers(unit) if k != name and name not in _frame_ancestors(unit, k)]
        new_ref = rng.choice(cands) if cands else None
    elif kind == "prev":
        new_ref = f"prev:{rng.choice(_layers(unit))}"
    elif kind == "base":
        cands = [k for k in _layers(net) if k != rec and rec not in _root_ancestors(net, k)]
        new_ref = f"base:{rng.choice(cands)}" if cands else None
    else:
        keys = [k for k in _data_keys(case) if k not in _target_keys(case)]
        new_ref = f"data:{rng.choice(keys)}" if keys else None
    if new_ref is None or new_ref == old:
        return None
    _put(desc, slot, new_ref)
    return new, f"rewire {rec}/{name}: source {old!r} -> {new_ref!r}"


def op_root_reads_loop_layer(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Replace one source of a root layer by ``<rec>/<layer in the loop>``."""
    new, net = _copy(case)
    recs = _recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    before = _root_ancestors(net, rec) | {rec}
    cands = [k for k in _layers(net) if k not in before and _slots(net[k], ("from",))]
    if not cands:
        return None
    name = rng.choice(cands)
    slot = rng.choice(_slots(net[name], ("from",)))
    old = _get(net[name], slot)
    inner = rng.choice(_layers(net[rec]["unit"]))
    new_ref = f"{rec}/{inner}"
    if new_ref == old:
        return None
    _put(net[name], slot, new_ref)
    return new, f"rewire root {name}: source {old!r} -> {new_ref!r}"


def op_add_choice(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Add a second choice to a loop: a copy of a choice with another name and beam size, fed from a
    layer of the frame, then fed back (``prev:``), combined in the frame, or only an output layer."""
    new, net = _copy(case)
    sites = [(rec, c) for rec in _recs(net) for c in _unit_choices(net[rec]["unit"])]
    if not sites:
        return None
    rec, choice = rng.choice(sites)
    unit = net[rec]["unit"]
    name = _fresh(unit, f"{choice}_b")
    desc = copy.deepcopy(unit[choice])
    desc.pop("is_output_layer", None)
    desc.pop("explicit_search_source", None)
    desc.pop("explicit_search_sources", None)
    old_k = desc.get("beam_size", 12)
    desc["beam_size"] = rng.choice([k for k in BEAM_SIZES if k != old_k])
    if desc.get("input_type") == "regression" or not isinstance(desc.get("target"), str):
        return None
    feeders = [k for k in _layers(unit) if unit[k].get("class") not in ("choice", "decide", "decide_keep_beam")
               and k != "end" and not unit[k].get("class", "").startswith("choice_")]
    if feeders and rng.random() < 0.6:
        # a new output head: a softmax over the choice's target vocabulary from a layer of the frame
        head = _fresh(unit, f"{name}_prob")
        unit[head] = {"class": "softmax", "from": rng.choice(feeders), "target": desc["target"]}
        desc["from"] = head
        desc.pop("input_type", None)
        src = f"{head} = softmax({unit[head]['from']!r})"
    else:
        src = repr(desc.get("from"))
    unit[name] = desc
    emb = _fresh(unit, f"{name}_emb")
    src_heads = set()
    for ref in _sources(desc):
        head = _head(ref)
        if head:
            src_heads |= {head} | _frame_ancestors(unit, head)
    mode = rng.choice(["feedback", "frame", "output"])
    if mode == "feedback":
        users = [k for k in _layers(unit) if any(r == f"prev:{choice}" for r in _sources(unit[k]))]
        if not users:
            return None
        user = rng.choice(users)
        unit[emb] = {"class": "linear", "activation": None, "from": f"prev:{name}", "n_out": 4}
        _add_source(unit[user], emb)
        how = f"fed back through prev:{name} into {user}"
    elif mode == "frame":
        users = [k for k in _layers(unit) if k not in src_heads | {name, choice, "end"}
                 and unit[k].get("class") in ("linear", "softmax")
                 and name not in _frame_ancestors(unit, k)]
        if not users:
            return None
        user = rng.choice(users)
        unit[emb] = {"class": "linear", "activation": None, "from": name, "n_out": 4}
        _add_source(unit[user], emb)
        how = f"combined in the frame into {user}"
    else:
        desc["is_output_layer"] = True
        how = "as an output layer"
    return new, (f"add choice {rec}/{name} (copy of {choice}, beam {desc['beam_size']}, from {src}) "
                 f"{how}")


def op_beam_size(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Change the beam size of a choice."""
    new, net = _copy(case)
    sites = _choice_sites(net)
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = _site_desc(net, rec, name)
    old = desc.get("beam_size")
    desc["beam_size"] = rng.choice([k for k in BEAM_SIZES if k != old])
    return new, f"beam_size of {_where(rec, name)}: {old} -> {desc['beam_size']}"


def op_drop_initial_output(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Drop ``initial_output`` of a choice or of a layer read via ``prev:``."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        read_prev = {r[len("prev:"):].split("/")[0] for d in unit.values() if isinstance(d, dict)
                     for r in _refs(d) if r.startswith("prev:")}
        sites += [(rec, k) for k in _layers(unit) if "initial_output" in unit[k]
                  and (unit[k].get("class") == "choice" or k in read_prev)]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    old = net[rec]["unit"][name].pop("initial_output")
    return new, f"drop initial_output ({old!r}) of {rec}/{name}"


def op_target(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Drop or change the ``target`` of a choice or a rec layer."""
    new, net = _copy(case)
    sites = [(r, c) for r, c in _choice_sites(net)] + [(None, r) for r in _recs(net) if "target" in net[r]]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = _site_desc(net, rec, name)
    old = desc.get("target", "<unset>")
    others = [k for k in _sparse_keys(case) if k != old]
    action = rng.choice(["drop", "change", "change"] if others else ["drop"])
    if action == "drop":
        if "target" not in desc:
            return None
        del desc["target"]
        return new, f"drop target ({old!r}) of {_where(rec, name)}"
    desc["target"] = rng.choice(others)
    return new, f"target of {_where(rec, name)}: {old!r} -> {desc['target']!r}"


def op_move_out(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Move a loop layer without ``prev:`` inputs to the root; fix references (``base:`` inside the
    loop, ``<rec>/X`` for what it read in the loop)."""
    new, net = _copy(case)
    recs = _recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    def movable(k: str) -> bool:
        refs = _refs(unit[k])
        if k in ("output", "end") or any(r.startswith(("prev:", ":")) for r in refs):
            return False
        # reading the frame and being read by it would make a cycle through the rec layer
        reads_frame = any(_head(r) in unit for r in refs)
        read_by_frame = any(_head(r) == k or r == f"prev:{k}" for d in unit.values() if isinstance(d, dict)
                            for r in _refs(d))
        return not (reads_frame and read_by_frame)

    cands = [k for k in _layers(unit) if movable(k)]
    if not cands:
        return None
    name = rng.choice(cands)
    desc = unit.pop(name)
    root_name = _fresh(net, name)

    def outward(ref: str) -> str:
        if ref.startswith("base:"):
            return ref[len("base:"):]
        return f"{rec}/{ref}" if _head(ref) in unit else ref

    def inward(ref: str) -> str:
        if ref == f"prev:{name}" or _head(ref) == name:
            return f"base:{root_name}"
        return ref

    _map_refs(desc, outward)
    desc.pop("initial_output", None)
    for other in unit.values():
        if isinstance(other, dict):
            _map_refs(other, inward)
    for other in net.values():
        if isinstance(other, dict) and other is not net[rec]:
            _map_refs(other, lambda ref: root_name if ref == f"{rec}/{name}" else ref)
    net[root_name] = desc
    return new, f"move {rec}/{name} out of the loop to root layer {root_name!r}"


def op_move_in(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Move a root layer into a loop (mostly one the loop reads via ``base:``); fix references
    (``base:`` for its root inputs, ``<rec>/X`` for its root readers)."""
    new, net = _copy(case)
    recs = _recs(net)
    if not recs:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    after = {k for k in _layers(net) if rec in _root_ancestors(net, k)}
    text = json.dumps(net)
    # read from where these rewrites do not reach: an eval string (max_seq_len), a nested subnetwork
    pinned = {k for k in _layers(net) if f"'base:{k}'" in text or f"base:base:{k}" in text}
    cands = [k for k in _layers(net) if k != rec and k not in unit and k not in after | pinned
             and net[k].get("class") != "rec"]
    read = [k for k in cands if k in _root_refs(net, rec)]
    pool = read if read and rng.random() < 0.75 else cands
    if not pool:
        return None
    name = rng.choice(pool)
    desc = net.pop(name)

    def to_base(ref: str) -> str:
        return f"base:{ref}" if _head(ref) in net or ref == "data" or ref.startswith("data:") else ref

    _map_refs(desc, to_base)
    for inner in unit.values():
        if isinstance(inner, dict):
            _map_refs(inner, lambda ref: name if ref == f"base:{name}" else ref)
    for other in net.values():
        if isinstance(other, dict):
            _map_refs(other, lambda ref: f"{rec}/{name}" if ref == name else ref)
    for other_rec in _recs(net):
        if other_rec != rec:
            for inner in net[other_rec]["unit"].values():
                if isinstance(inner, dict):
                    _map_refs(inner, lambda ref: f"base:{rec}/{name}" if ref == f"base:{name}" else ref)
    unit[name] = desc
    return new, f"move root layer {name!r} into the loop {rec}"


def op_search_false(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Set ``search: False`` on a choice, with or without ``length_normalization: False``."""
    new, net = _copy(case)
    sites = [s for s in _choice_sites(net) if _site_desc(net, *s).get("search", True) is not False]
    if not sites:
        return None
    rec, name = rng.choice(sites)
    desc = _site_desc(net, rec, name)
    desc["search"] = False
    extra = ""
    if rng.random() < 0.5:
        desc["length_normalization"] = False
        extra = " and length_normalization: False"
    return new, f"search: False{extra} on {_where(rec, name)}"


def _insert_decide(layers: dict[str, Any], user: str, slot: Any) -> tuple[str, str]:
    """Put a new ``decide`` layer between ``layers[user]``'s source at ``slot`` and it: (source, decide)."""
    src = _get(layers[user], slot)
    dec = _fresh(layers, f"{src.replace('/', '_')}_decided")
    layers[dec] = {"class": "decide", "from": src}
    _put(layers[user], slot, dec)
    return src, dec


def op_add_decide(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Insert a ``decide`` layer between a beamed root layer and its root consumer, or between two
    layers of a loop frame."""
    new, net = _copy(case)
    recs = _recs(net)
    if recs and rng.random() < 0.25:
        rec = rng.choice(recs)
        unit = net[rec]["unit"]
        edges = [(k, s) for k in _layers(unit) for s in _slots(unit[k], ("from",))
                 if _head(_get(unit[k], s)) in unit]
        if not edges:
            return None
        user, slot = rng.choice(edges)
        src, dec = _insert_decide(unit, user, slot)
        return new, f"insert decide {rec}/{dec} between {rec}/{src} and {rec}/{user} (in the loop)"
    beamed = _beamed_roots(net)
    edges = []
    for k in _layers(net):
        if net[k].get("class") in ("decide", "decide_keep_beam"):
            continue
        for s in _slots(net[k], ("from",)):
            if _head(_get(net[k], s)) in beamed:
                edges.append((k, s))
    if not edges:
        return None
    user, slot = rng.choice(edges)
    src, dec = _insert_decide(net, user, slot)
    return new, f"insert decide {dec} between {src} and {user}"


def op_target_ref_in_loop(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Read a target key inside the loop (``data:KEY``, bare ``KEY``, or ``base:data:KEY``), replacing
    a source or adding one to an embedding."""
    new, net = _copy(case)
    recs = _recs(net)
    keys = _target_keys(case)
    if not recs or not keys:
        return None
    rec = rng.choice(recs)
    unit = net[rec]["unit"]
    key = rng.choice(keys)
    ref = rng.choices([f"data:{key}", key, f"base:data:{key}"], [3, 1, 1])[0]
    prev_users = [k for k in _layers(unit) for s in _slots(unit[k], ("from",))
                  if _get(unit[k], s).startswith("prev:")]
    if prev_users and rng.random() < 0.7:
        user = rng.choice(prev_users)
        slot = next(s for s in _slots(unit[user], ("from",)) if _get(unit[user], s).startswith("prev:"))
        old = _get(unit[user], slot)
        _put(unit[user], slot, ref)
        return new, f"rewire {rec}/{user}: source {old!r} -> target key {ref!r} (teacher forcing)"
    users = [k for k in _layers(unit) if unit[k].get("class") in ("linear", "softmax") and _sources(unit[k])]
    if not users:
        return None
    user = rng.choice(users)
    emb = _fresh(unit, f"{key}_emb")
    unit[emb] = {"class": "linear", "activation": None, "from": ref, "n_out": 3}
    _add_source(unit[user], emb)
    return new, f"add {rec}/{emb} (linear of {ref!r}) as a source of {rec}/{user}"


def op_prev_prev(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Turn a ``prev:X`` reference in a loop into ``prev:prev:X``."""
    new, net = _copy(case)
    sites = [(rec, k, s) for rec in _recs(net) for k in _layers(net[rec]["unit"])
             for s in _slots(net[rec]["unit"][k], ("from",)) if _get(net[rec]["unit"][k], s).startswith("prev:")]
    if not sites:
        return None
    rec, name, slot = rng.choice(sites)
    desc = net[rec]["unit"][name]
    old = _get(desc, slot)
    _put(desc, slot, f"prev:{old}")
    return new, f"rewire {rec}/{name}: source {old!r} -> 'prev:{old}'"


def op_drop_loop_length(case: Case, rng: random.Random) -> tuple[Case, str] | None:
    """Drop a searching loop's ``end`` layer or its ``max_seq_len``."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        if "end" in net[rec]["unit"]:
            sites.append((rec, "end"))
        if "max_seq_len" in net[rec]:
            sites.append((rec, "max_seq_len"))
    if not sites:
        return None
    rec, what = rng.choice(sites)
    if what == "end":
        del net[rec]["unit"]["end"]
        for desc in net[rec]["unit"].values():
            if isinstance(desc, dict) and any(r in ("end", "prev:end") for r in _refs(desc)):
                return None
        return new, f"drop the end layer of {rec}"
    old = net[rec].pop("max_seq_len")
    return new, f"drop max_seq_len ({old!r}) of {rec}"


@dataclass(frozen=True)
class Op:
    """A mutation operator with its sampling weight."""

    name: str
    fn: Operator
    weight: float


OPERATORS: tuple[Op, ...] = (
    Op("rewire-loop", op_rewire_in_loop, 5),
    Op("root-reads-loop", op_root_reads_loop_layer, 2),
    Op("add-choice", op_add_choice, 4),
    Op("beam-size", op_beam_size, 1.5),
    Op("drop-initial", op_drop_initial_output, 1),
    Op("target", op_target, 2),
    Op("move-out", op_move_out, 2),
    Op("move-in", op_move_in, 2),
    Op("search-false", op_search_false, 1.5),
    Op("decide", op_add_decide, 2.5),
    Op("target-ref", op_target_ref_in_loop, 2),
    Op("prev-prev", op_prev_prev, 0.4),
    Op("loop-length", op_drop_loop_length, 0.8),
)
SECOND_OP_RATE = 0.15


def _apply(op: Op, case: Case, rng: random.Random) -> tuple[Case, str] | None:
    res = op.fn(case, rng)
    if res is None:
        return None
    new, desc = res
    json.dumps(new["network"])  # mutants stay JSON networks
    return new, desc


def generate(base_cases: list[tuple[str, Case]], n: int, seed: int,
             operators: tuple[Op, ...] = ()) -> list[Mutant]:
    """``n`` distinct mutants (id, case with ``id``/``description``/``base``, description) of the given
    base networks made with ``operators`` (default :data:`OPERATORS`); deterministic for a seed. A
    share of them get a second mutation on top."""
    rng = random.Random(seed)
    bases = sorted(base_cases, key=lambda b: b[0])
    ops_all = operators or OPERATORS
    weights = [op.weight for op in ops_all]
    seen = {json.dumps(case["network"], sort_keys=True) for _, case in bases}
    out: list[Mutant] = []
    attempts = 0
    while len(out) < n and attempts < 100 * n:
        attempts += 1
        op = rng.choices(ops_all, weights)[0]
        bid, base = rng.choice(bases)
        res = _apply(op, base, rng)
        if res is None:
            continue
        case, desc = res
        ops = [op.name]
        if rng.random() < SECOND_OP_RATE:
            op2 = rng.choices(ops_all, weights)[0]
            res2 = _apply(op2, case, rng)
            if res2 is not None:
                case, desc2 = res2
                desc = f"{desc}; then {desc2}"
                ops.append(op2.name)
        key = json.dumps(case["network"], sort_keys=True)
        if key in seen or has_cycle(case["network"]):
            continue
        seen.add(key)
        mid = f"m{len(out):03d}-{'+'.join(ops)}-{bid.replace('/', '_')}"
        case.update(id=mid, description=desc, base=bid, ops=ops)
        out.append((mid, case, desc))
    return out


# ----------------------------------------------------------------------------------------------------
# Scoring


@dataclass
class Outcome:
    """One mutant: RETURNN's answer against searchgraph's."""

    mid: str
    description: str
    ops: list[str]
    returnn: str  # "ok", "search" (search-related failure), "other" (other failure), "crash" (runner)
    error: str | None
    error_layer: str | None
    reason: str | None
    predicted: bool | None  # None: searchgraph raised
    prediction: dict[str, str] = field(default_factory=dict)
    crash: str | None = None
    raised_in: str | None = None  # RETURNN's innermost traceback frame (file:function)

    @property
    def same_error(self) -> bool:
        """Whether one of searchgraph's messages starts like RETURNN's (same type and text)."""
        want = (self.error or "").split(" <", 1)[0][:40]
        return bool(want) and any(m.startswith(want) for m in self.prediction.values())

    @property
    def cell(self) -> str:
        """TP / FN / FP / TN, ``unknown`` (RETURNN failed for another reason and searchgraph names an
        error: a search error may hide behind it), ``crash`` (searchgraph raised) or ``runner`` (the
        RETURNN runner crashed)."""
        if self.predicted is None:
            return "crash"
        if self.returnn == "crash":
            return "runner"
        if self.returnn == "search":
            return "TP" if self.predicted else "FN"
        if self.returnn == "ok":
            return "FP" if self.predicted else "TN"
        return "unknown" if self.predicted else "TN"


def returnn_class(result: dict[str, Any]) -> str:
    """``ok``, ``search``, ``other`` or ``crash`` for a runner result."""
    if result.get("runner_crash"):
        return "crash"
    if result.get("ok"):
        return "ok"
    # the definition, by where RETURNN raised (runner.search_related_reason); the corpus
    # files' looser ``search_error`` also counts shape asserts that print a beamed tensor
    related = result.get("search_related", result.get("search_error"))
    return "search" if related else "other"


def evaluate(mutants: list[Mutant], results: dict[str, dict[str, Any]]) -> list[Outcome]:
    """Run searchgraph on every mutant and pair its prediction with RETURNN's result."""
    out = []
    for mid, case, desc in mutants:
        res = results[mid]
        outcome = Outcome(mid, desc, list(case.get("ops", [])), returnn_class(res), res.get("error"),
                          res.get("error_layer"),
                          res.get("search_related_reason", res.get("search_error_reason")), None,
                          raised_in=(res.get("traceback_frames") or res.get("traceback_funcs") or [None])[-1])
        try:
            errors = analyze_case(case).errors
        except SearchgraphError as exc:  # searchgraph rejects the network itself: a predicted error
            errors = {"<network>": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # noqa: BLE001 - a crash is an answer here
            outcome.crash = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            out.append(outcome)
            continue
        outcome.predicted = bool(errors)
        outcome.prediction = {k: v.splitlines()[0] if v else "" for k, v in errors.items()}
        out.append(outcome)
    return out


@dataclass
class Score:
    """The confusion matrix and its rates."""

    counts: Counter[str]

    @property
    def precision(self) -> float:
        tp, fp = self.counts["TP"], self.counts["FP"]
        return tp / (tp + fp) if tp + fp else 1.0

    @property
    def recall(self) -> float:
        tp, fn = self.counts["TP"], self.counts["FN"]
        return tp / (tp + fn) if tp + fn else 1.0

    @property
    def positives(self) -> int:
        return self.counts["TP"] + self.counts["FN"]


def score(outcomes: list[Outcome]) -> Score:
    return Score(Counter(o.cell for o in outcomes))


def _short(text: str | None, limit: int = 160) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pred(o: Outcome) -> str:
    if o.predicted is None:
        return f"CRASH {o.crash}"
    if not o.prediction:
        return "no error"
    return "; ".join(f"{k}: {_short(v, 100)}" for k, v in sorted(o.prediction.items()))


def report(outcomes: list[Outcome]) -> str:
    """The confusion matrix, per-operator counts and every disagreement, as text."""
    s = score(outcomes)
    c = s.counts
    other_tn = sum(1 for o in outcomes if o.returnn == "other" and o.cell == "TN")
    ok_tn = c["TN"] - other_tn
    lines = [
        (f"mutants: {len(outcomes)}  (RETURNN: {sum(o.returnn == 'ok' for o in outcomes)} build, "
         f"{sum(o.returnn == 'search' for o in outcomes)} search errors, "
         f"{sum(o.returnn == 'other' for o in outcomes)} other errors, "
         f"{sum(o.returnn == 'crash' for o in outcomes)} runner crashes)"),
        "",
        f"{'':28}{'searchgraph: error':>20}{'searchgraph: none':>20}",
        f"{'RETURNN: search error':28}{'TP ' + str(c['TP']):>20}{'FN ' + str(c['FN']):>20}",
        f"{'RETURNN: builds':28}{'FP ' + str(c['FP']):>20}{'TN ' + str(ok_tn):>20}",
        f"{'RETURNN: other error':28}{'unknown ' + str(c['unknown']):>20}{'TN ' + str(other_tn):>20}",
        (f"  (unknown: searchgraph names RETURNN's own message on "
         f"{sum(o.cell == 'unknown' and o.same_error for o in outcomes)} of them)"),
        "",
        (f"precision {s.precision:.3f}  recall {s.recall:.3f}  (unknown excluded; searchgraph crashes: "
         f"{c['crash']}; runner crashes: {c['runner']})"),
        "",
        "per operator (first op):  " + "  ".join(
            f"{op}: " + "/".join(f"{k}{v}" for k, v in sorted(Counter(o.cell for o in outcomes
                                                                     if o.ops[:1] == [op]).items()))
            for op in sorted({o.ops[0] for o in outcomes if o.ops})),
    ]
    sections = (("crash", "searchgraph crashes"),
                ("FN", "false negatives (RETURNN: search error; searchgraph: none)"),
                ("FP", "false positives (RETURNN builds; searchgraph: error)"),
                ("unknown", "unknown (RETURNN: other error; searchgraph: error)"))
    for cell, title in sections:
        bad = [o for o in outcomes if o.cell == cell]
        if not bad:
            continue
        lines += ["", f"{title}: {len(bad)}"]
        for o in bad:
            lines.append(f"  {o.mid}: {o.description}")
            if o.returnn != "ok":
                lines.append(f"      RETURNN: {_short(o.error)} [at {o.error_layer}; {o.reason}; "
                             f"raised in {o.raised_in}]")
            lines.append(f"      searchgraph: {_pred(o)}")
    return "\n".join(lines)
