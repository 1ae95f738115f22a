"""An eightieth set of edit operators (issue 15, seventeenth session), written and seeded before it was ever run,
by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first measured.

returnn_common-style network dicts (what returnn_common / i6 ``nn`` code generates and users then debug by
hand): blocks wrapped in ``subnetwork`` layers (``from: []``, an ``output`` sub-layer, often ``name_scope: ""``),
the loop's state and its choice sitting in sub-layers of such modules inside the rec unit, read by path
(``a/b``, ``a/b/c``, ``prev:a/b``) and reading out through ``base:`` chains, and ``rec_unstack`` loops over an
axis; with the correct forms and the slips of hand-editing (none a variant of an earlier operator; no rule was
written for any of them):

* ``state-bundle``: the loop's recurrent values are kept in one ``state`` module of the unit, as returnn_common
  keeps a loop's ``LayerState``: a ``subnetwork`` (``from: []``, maybe ``name_scope: ""``) holding, for one to
  three loop layers ``X`` read as ``prev:X`` (the choice included), a sub-layer that copies ``base:X`` (flat,
  ``state/X``) or a nested module whose ``output`` copies ``base:base:X`` (``state/X``, read as ``state/X`` or
  ``state/X/output``), its ``output`` a copy of the first sub-layer; the ``prev:X`` readers read
  ``prev:state/X`` (``prev:state/X/output``); the ``initial_output`` of ``X`` is repeated on the sub-layer
  (on the innermost ``output`` of a nested one), put on the ``state`` layer instead, on both, or forgotten;
  now and then (careless) a reader reads ``prev:state`` (the module's output) for the first value;
* ``choice-in-module``: a loop choice and its score layer move into a ``subnetwork`` module of the unit
  (``predict``, ``from: []``, maybe ``name_scope: ""``): the scores under their name (references made
  ``base:`` ones, ``base:X`` -> ``base:base:X``, no loss, the target's size as ``n_out``), the choice as
  ``choice`` over them (its options kept), the module's ``output`` a copy of the choice or of the scores;
  the unit keeps the choice's name as a ``copy`` of ``predict/choice`` (with its ``initial_output``), or
  every reader reads the path (``predict/choice``, ``prev:predict/choice``; the unit's ``output`` a copy
  of it where the choice was the output), readers of the scores read ``predict/P``, root readers of
  ``REC/C`` / ``REC/P`` read ``REC/predict/choice`` / ``REC/predict/P``; or (0.4) only the scores move into
  the module (its ``output`` a copy of them) and the choice, left in the unit, reads ``predict/P`` or
  ``predict``; now and then (careless) the scores' ``prev:`` references are left without ``base:``;
* ``unstack-frames``: the ``rec_unstack`` form of returnn_common's loop over an axis: a searching loop that
  iterates over an input (its ``from``, one layer or data key) reads the frame through a ``rec_unstack`` of
  the input read as ``base:`` (``declare_rec_time``, ``axis: "T"``, or no option) instead of ``data:source``
  (all of its readers, or all but one), the rec's ``from`` emptied (the returnn_common form, where the
  ``rec_unstack`` must declare the loop's time) or kept;
* ``sibling-modules``: a dense loop ``linear`` ``D`` and a loop ``linear`` / ``softmax`` ``R`` that reads it
  (``D`` or ``prev:D``) are both ported into returnn_common modules under their names (each a ``subnetwork``,
  ``from: []``, ``D``'s maybe with ``name_scope: ""``, with the layer inside as ``layer`` reading its sources through
  ``base:``, an ``output`` copy of it, ``initial_output`` / output flag kept on the module, a loss dropped and
  the target's size as ``n_out``); inside
  ``R``'s module the read of ``D`` reaches across into the sibling's sub-layer: ``base:D/layer`` /
  ``base:prev:D/layer`` (the correct forms), the sibling module itself (``base:D`` / ``base:prev:D``), or
  the slips of hand-editing: the path without ``base:`` (``D/layer``, ``prev:D/layer``, resolved in ``R``'s
  own module), or the wrong frame (``base:prev:D/layer`` for ``D``, ``base:D/layer`` for ``prev:D``); a
  ``D`` read as ``prev:`` without an ``initial_output`` may get one on its inner layer; now and then the
  other readers of ``D`` read ``D/layer`` (``prev:D/layer``) by path too.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    REF_KEYS,
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
    _walk,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH78_SEED = 20270140
N_FRESH78 = 80

Result = "tuple[Case, str] | None"

_NS = ', name_scope ""'

_REF_KEYS_NO_INIT = tuple(k for k in REF_KEYS if k != "initial_output")


def _map(desc: dict[str, Any], fn: Any) -> None:
    """Rewrite the reference strings of a layer dict in place (not ``initial_output``)."""
    for key in _REF_KEYS_NO_INIT:
        if key in desc:
            desc[key] = _walk(desc[key], fn)


_INIT_WORDS = ("zeros", "ones", "var", "keep_over_epoch", "keep_over_epoch_no_init", "placeholder")


def _init_down(value: Any, depth: int = 1) -> Any:
    """An ``initial_output`` moved ``depth`` subnetworks deeper: a layer name gets ``base:`` prefixes."""
    if isinstance(value, str) and value not in _INIT_WORDS and "(" not in value:
        return "base:" * depth + value
    return value


def _all_refs(desc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in _REF_KEYS_NO_INIT:
        _walk(desc.get(key), lambda r: out.append(r) or r)
    return out


def _down(ref: str, keep_prev: bool = False) -> str:
    """A reference of a loop layer as seen one subnetwork deeper."""
    if keep_prev and ref.startswith("prev:"):
        return ref
    return "base:" + ref


def _replace_everywhere(layers: dict[str, Any], old: str, new: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Every layer of ``layers`` (not in ``skip``) reading ``old`` reads ``new``; the readers."""
    readers = []
    for k in _layers(layers):
        if k in skip:
            continue
        if old in _all_refs(layers[k]):
            _map(layers[k], lambda r: new if r == old else r)
            readers.append(k)
    return readers


def _root_path_readers(net: dict[str, Any], old: str, new: str) -> list[str]:
    return _replace_everywhere(net, old, new)


def _uses_step(desc: dict[str, Any]) -> bool:
    return any(r == ":i" or r.endswith(":i") for r in _all_refs(desc))


# ----------------------------------------------------------------------------------------------------


def op_state_bundle(case: Case, rng: random.Random) -> Result:
    """The loop's ``prev:`` values kept in a ``state`` module of the unit, read by path."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        prevs = [x for x in _layers(unit) if x != "end" and unit[x].get("class") != "rec"
                 and _readers(unit, x, f"prev:{x}")]
        if prevs:
            sites.append((rec, prevs))
    if not sites:
        return None
    rec, prevs = rng.choice(sites)
    unit = net[rec]["unit"]
    choices = [x for x in prevs if unit[x].get("class") == "choice"]
    k = min(len(prevs), rng.choice([1, 1, 2, 3]))
    picked = sorted(rng.sample(prevs, k))
    if choices and not set(picked) & set(choices) and rng.random() < 0.5:
        picked[0] = rng.choice(choices)
        picked = sorted(set(picked))
    state = _fresh(unit, "state")
    nested = rng.random() < 0.4
    long_path = nested and rng.random() < 0.5
    init_mode = rng.choices(["sub", "state", "both", "none"], [0.5, 0.2, 0.15, 0.15])[0]
    sub: dict[str, Any] = {}
    paths = {}
    for x in picked:
        name = x if x != "output" else "labels"
        init = unit[x].get("initial_output")
        if nested:
            inner: dict[str, Any] = {"class": "copy", "from": f"base:base:{x}"}
            if init is not None and init_mode in ("sub", "both"):
                inner["initial_output"] = _init_down(init, 2)
            sub[name] = {"class": "subnetwork", "from": [], "subnetwork": {"output": inner}}
            if init is not None and init_mode in ("sub", "both") and rng.random() < 0.5:
                sub[name]["initial_output"] = _init_down(init)
            paths[x] = f"{state}/{name}/output" if long_path else f"{state}/{name}"
        else:
            sub[name] = {"class": "copy", "from": f"base:{x}"}
            if init is not None and init_mode in ("sub", "both"):
                sub[name]["initial_output"] = _init_down(init)
            paths[x] = f"{state}/{name}"
    first = picked[0]
    first_name = first if first != "output" else "labels"
    sub["output"] = {"class": "copy", "from": first_name}
    desc: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": sub}
    init0 = unit[first].get("initial_output")
    if init0 is not None and init_mode in ("state", "both"):
        desc["initial_output"] = init0
    scope = ""
    if rng.random() < 0.4:
        desc["name_scope"] = ""
        scope = ', name_scope ""'
    careless = rng.random() < 0.15
    parts = []
    for x in picked:
        readers = _readers(unit, x, f"prev:{x}")
        target = f"prev:{paths[x]}"
        if careless and x == first:
            target = f"prev:{state}"
        for r in readers:
            _map(unit[r], lambda ref, x=x, target=target: target if ref == f"prev:{x}" else ref)
        parts.append(f"prev:{x} -> {target} (in {', '.join(readers)})")
    unit[state] = desc
    how = "nested modules" if nested else "copies"
    init_txt = {"sub": "initial_output on the sub-layers", "state": "initial_output on the state layer",
                "both": "initial_output on sub-layers and state layer", "none": "initial_output forgotten"}[init_mode]
    if not any("initial_output" in unit[x] for x in picked):
        init_txt = "no initial_output"
    return new, (f"{rec}: state module {state} ({how} of {', '.join(picked)} read through base:{scope}; "
                 f"{init_txt}); {'; '.join(parts)}{' (careless: the module output)' if careless else ''}")


def op_choice_in_module(case: Case, rng: random.Random) -> Result:
    """A loop choice and its scores moved into a ``predict`` module of the unit, read by path."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            srcs = _sources(unit[c])
            if len(srcs) != 1 or srcs[0] not in unit or srcs[0] in ("output", "end", c):
                continue
            p = srcs[0]
            pdesc = unit[p]
            if pdesc.get("class") in ("choice", "rec", "subnetwork", "rec_unstack") or "reuse_params" in pdesc or _uses_step(pdesc):
                continue
            if any(isinstance(v, dict) for k, v in unit[c].items() if k in ("explicit_search_sources",)):
                continue
            sites.append((rec, c, p))
    if not sites:
        return None
    rec, c, p = rng.choice(sites)
    unit = net[rec]["unit"]
    scores_only = rng.random() < 0.4
    cdesc = unit[c] if scores_only else unit.pop(c)
    pdesc = unit.pop(p)
    # the scores inside the module
    inner_p = {k: v for k, v in pdesc.items() if k not in ("loss", "loss_opts", "loss_scale", "is_output_layer")}
    if "target" in inner_p:
        tgt = inner_p.pop("target")
        if "n_out" not in inner_p and "out_type" not in inner_p:
            key = tgt.removeprefix("data:") if isinstance(tgt, str) else None
            dim = _target_dim(case, key) if key else None
            if dim is None:
                return None
            inner_p["n_out"] = dim
    careless = rng.random() < 0.15 and any(r.startswith("prev:") for r in _all_refs(inner_p))
    _map(inner_p, lambda r: _down(r, keep_prev=careless))
    p_name = p if p not in ("choice", "output") else "scores"
    inner_c = dict(cdesc)
    inner_c["from"] = p_name
    inner_c.pop("is_output_layer", None)
    _map(inner_c, lambda r: r if r == p_name else _down(r))
    inner_c["from"] = p_name
    if "initial_output" in inner_c:
        inner_c["initial_output"] = _init_down(inner_c["initial_output"])
    if "initial_output" in inner_p:
        inner_p["initial_output"] = _init_down(inner_p["initial_output"])
    out_mode = "scores" if scores_only else rng.choice(["labels", "scores"])
    sub = {p_name: inner_p, "choice": inner_c,
           "output": {"class": "copy", "from": "choice" if out_mode == "labels" else p_name}}
    if scores_only:
        del sub["choice"]
    mod = _fresh(unit, "predict")
    mdesc: dict[str, Any] = {"class": "subnetwork", "from": [], "subnetwork": sub}
    if rng.random() < 0.5:
        mdesc["name_scope"] = ""
    if pdesc.get("is_output_layer"):
        inner_p["is_output_layer"] = True
    unit[mod] = mdesc
    cpath, ppath = f"{mod}/choice", f"{mod}/{p_name}"
    if scores_only:
        via = rng.choice([ppath, mod])
        p_readers = _replace_everywhere(unit, p, via, skip=(mod,))
        _replace_everywhere(unit, f"prev:{p}", f"prev:{via}", skip=(mod,))
        _root_path_readers(net, f"{rec}/{p}", f"{rec}/{ppath}")
        return new, (f"{rec}: the scores {p} of choice {c} moved into module {mod} (output: a copy of them"
                     f"{_NS if 'name_scope' in mdesc else ''}); {', '.join(p_readers)} read {via}"
                     f"{'; careless: the scores keep prev: without base:' if careless else ''}")
    p_readers = _replace_everywhere(unit, p, ppath, skip=(mod,))
    _replace_everywhere(unit, f"prev:{p}", f"prev:{ppath}", skip=(mod,))
    mode = rng.choice(["alias", "path"])
    if mode == "alias" or c == "output":
        alias = {"class": "copy", "from": cpath}
        if "initial_output" in cdesc:
            alias["initial_output"] = cdesc["initial_output"]
        if cdesc.get("is_output_layer"):
            alias["is_output_layer"] = True
        unit[c] = alias
    if mode == "path":
        c_readers = _replace_everywhere(unit, c, cpath, skip=(mod, c))
        prev_readers = _replace_everywhere(unit, f"prev:{c}", f"prev:{cpath}", skip=(mod,))
        _root_path_readers(net, f"{rec}/{c}", f"{rec}/{cpath}")
        how = (f"readers read {cpath} ({', '.join(c_readers) or 'none'}) and prev:{cpath} "
               f"({', '.join(prev_readers) or 'none'})" + (f", {c} a copy of {cpath}" if c in unit else ""))
    else:
        how = f"{c} kept as a copy of {cpath}"
    _root_path_readers(net, f"{rec}/{p}", f"{rec}/{ppath}")
    return new, (f"{rec}: choice {c} and its scores {p} moved into module {mod} (output: {out_mode}"
                 f"{_NS if 'name_scope' in mdesc else ''}); {how}; readers of {p} "
                 f"({', '.join(p_readers) or 'none'}) read {ppath}"
                 f"{'; careless: the scores keep prev: without base:' if careless else ''}")


def _input_ref(src: str) -> str | None:
    """A rec's ``from`` as seen from inside the unit through ``base:``."""
    if src == "data":
        return "base:data:data"
    return f"base:{src}"


def op_unstack_frames(case: Case, rng: random.Random) -> Result:
    """A searching loop over an input reads its frame through a ``rec_unstack`` of the input (``base:``)."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        desc = net[rec]
        unit = desc["unit"]
        srcs = _sources(desc)
        if len(srcs) != 1 or (isinstance(desc.get("from"), list) and len(desc["from"]) != 1):
            continue
        readers = [k for k in _layers(unit) if any(r in ("data:source", "data") for r in _all_refs(unit[k]))]
        if readers:
            sites.append((rec, srcs[0], readers))
    if not sites:
        return None
    rec, src, readers = rng.choice(sites)
    unit = net[rec]["unit"]
    drop = rng.random() < 0.6
    opt = rng.choices(["declare", "axis", "plain"], [0.6, 0.2, 0.2] if drop else [0.2, 0.4, 0.4])[0]
    opts: dict[str, Any] = {"declare": {"declare_rec_time": True}, "axis": {"axis": "T"}, "plain": {}}[opt]
    opt_txt = {"declare": "declare_rec_time", "axis": "axis T", "plain": "no options"}[opt]
    ref = _input_ref(src)
    frame = _fresh(unit, "frame")
    unit[frame] = {"class": "rec_unstack", "from": ref, **opts}
    if len(readers) > 1 and rng.random() < 0.3:
        readers = sorted(rng.sample(readers, len(readers) - 1))
    for k in readers:
        _map(unit[k], lambda r: frame if r in ("data:source", "data") else r)
    if drop:
        net[rec]["from"] = []
    return new, (f"{rec}: data:source read through {frame}, a rec_unstack of {ref} ({opt_txt}), by "
                 f"{', '.join(readers)}; the rec's from {'emptied' if drop else 'kept'}")


def op_sibling_modules(case: Case, rng: random.Random) -> Result:
    """A dense loop layer and a layer reading it ported into two sibling modules, the reader reaching into
    the other module's sub-layer across scopes."""
    new, net = _copy(case)
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for d in _layers(unit):
            dd = unit[d]
            if d in ("output", "end") or dd.get("class") != "linear" or not isinstance(dd.get("n_out"), int):
                continue
            if "reuse_params" in dd or _uses_step(dd) or not _sources(dd):
                continue
            for r in _layers(unit):
                rd = unit[r]
                if r in (d, "output", "end") or rd.get("class") not in ("linear", "softmax"):
                    continue
                if "reuse_params" in rd or _uses_step(rd):
                    continue
                refs = _all_refs(rd)
                for ref in (d, f"prev:{d}"):
                    if ref in refs:
                        sites.append((rec, d, r, ref))
    if not sites:
        return None
    rec, d, r, ref = rng.choice(sites)
    unit = net[rec]["unit"]
    prev = ref.startswith("prev:")

    def port(name: str) -> dict[str, Any]:
        old = unit[name]
        inner = {k: v for k, v in old.items() if k not in ("initial_output", "is_output_layer", "loss",
                                                           "loss_opts", "loss_scale", "target")}
        if "target" in old and "n_out" not in inner:
            tgt = old["target"]
            dim = _target_dim(case, tgt.removeprefix("data:")) if isinstance(tgt, str) else None
            if dim is None:
                return {}
            inner["n_out"] = dim
        _map(inner, _down)
        mod: dict[str, Any] = {"class": "subnetwork", "from": [],
                               "subnetwork": {"layer": inner, "output": {"class": "copy", "from": "layer"}}}
        for key in ("initial_output", "is_output_layer"):
            if key in old:
                mod[key] = old[key]
        return mod

    dmod = port(d)
    rmod = port(r)
    if dmod and rng.random() < 0.4:
        dmod["name_scope"] = ""  # one of them only: both would put a "layer" into the loop's scope
    if not dmod or not rmod:
        return None
    if prev and "initial_output" not in unit[d] and rng.random() < 0.5:
        dmod["subnetwork"]["layer"]["initial_output"] = 0
    unit[d] = dmod
    unit[r] = rmod
    inner = rmod["subnetwork"]["layer"]
    seen_as = f"base:{ref}"  # what the reader's inner layer reads now: the module's output
    if prev:
        form = rng.choices([f"base:prev:{d}/layer", f"base:prev:{d}", f"prev:{d}/layer", f"base:{d}/layer"],
                           [0.5, 0.25, 0.1, 0.15])[0]
    else:
        form = rng.choices([f"base:{d}/layer", f"base:{d}", f"{d}/layer", f"base:prev:{d}/layer"],
                           [0.5, 0.25, 0.1, 0.15])[0]
    _map(inner, lambda x: form if x == seen_as else x)
    others = []
    if rng.random() < 0.4:
        others = _replace_everywhere(unit, d, f"{d}/layer", skip=(d, r))
        others += _replace_everywhere(unit, f"prev:{d}", f"prev:{d}/layer", skip=(d, r))
    extra = f"; {', '.join(others)} read {d}/layer by path" if others else ""
    return new, (f"{rec}: {d} and its reader {r} ported into sibling modules (each a subnetwork with a 'layer' "
                 f"and an output copy, sources through base:); {r}/layer reads {ref} as {form!r}{extra}")


FRESH78_OPERATORS: tuple[Op, ...] = (
    Op("state-bundle", op_state_bundle, 1),
    Op("choice-in-module", op_choice_in_module, 1),
    Op("unstack-frames", op_unstack_frames, 2),
    Op("sibling-modules", op_sibling_modules, 1),
)
