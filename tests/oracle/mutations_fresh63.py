"""A sixty-fifth set of edit operators (issue 15, fourteenth session, second part), written and seeded before it
was ever run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when
first measured.

Grafts between real networks: a user combines parts of two setups. Every operator takes a second network from
the shared corpus (``<repo>/../shared/corpus/*/*.json``, sorted by name, the ``*.oracle.json`` answers read
only to skip networks RETURNN does not build or builds slowly; None without a corpus), picks one with the rng
and grafts one part of it into the base, keeping the grafted layers' names (``grafted_NAME`` on a clash),
adapting references and dims as a user would, or making one of the usual wiring mistakes:

* ``graft-decoder``: the other network's searching decoder (its rec layer, unit and rec options) replaces the
  base's decoder under the base's name, on the base's encoder: the other decoder's encoder reference
  (``base:encoder``, also in ``max_seq_len``) becomes the base's encoder, the root layers its unit reads on
  top of its encoder (``enc_ctx``, ``enc_value``, ``inv_fertility``, ...) are grafted over the base's
  encoder, its target key becomes the base's, layers sized by its vocabulary get the base's, fixed
  ``split_dims`` of the encoder become ``[1, -1]``; or the same with one mistake: the other setup's target key
  kept, one of those root layers not grafted (its ``base:`` reference left dangling), the vocabulary size and
  fixed dims kept, or the base's own same-named root layer reused in its place;
* ``graft-encoder``: the other network's encoder (its ``encoder`` layer and every root layer under it) goes
  under the base's decoder: the base's encoder layer becomes a ``copy`` of the grafted encoder (or takes the
  grafted encoder's own layer dict); config-function ``eval`` layers (SpecAugment) become ``source(0)``; half of
  the time the other network's root heads on its encoder (a CTC softmax with its loss) come along, with the
  target key mapped to the base's, kept as the other setup's, or their loss dropped;
* ``graft-output-section``: the other network's root section reading its decoder (``decide`` layers with
  their losses, ``choice_get_beam_scores``, copies of decoder sub-layers, what reads those) is put onto the
  base's decoder: references to the other decoder become the base's; the base's same-named layers replaced or
  the grafted ones added beside; target keys mapped to the base's, kept, or the losses dropped; sparse dims
  of ``reinterpret_data`` adapted to the base's vocabulary or kept;
* ``graft-lm-block``: the other network's external-LM block (the LM ``subnetwork`` over ``prev:CHOICE``, its
  softmax and the ``eval`` fusion layer its choice reads) fused into the base's decoder: the LM reads the
  base's choice, the fusion reads the base's choice input (no ``safe_log`` where the base's choice takes
  log-probabilities, config-function fusions written out), the base's choice reads the fusion with
  ``input_type: "log_prob"``; or with a mistake: the LM's vocabulary size kept, the LM softmax's target key of
  the other setup kept, the LM reading the reference (``data:KEY``) as in LM training; or the LM block added
  as a monitored output without being fused.
"""

from __future__ import annotations

import copy
import functools
import json
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _deps,
    _fresh,
    _head,
    _layers,
    _map_refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
    _walk,
)
from .oracle import corpus_dir

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH63_SEED = 20270125
N_FRESH63 = 80

#: other networks whose decoder / encoder / output section is grafted: RETURNN builds them within this time
MAX_DONOR_S = 5.0
#: most root layers grafted on top of the base's encoder with a decoder
MAX_ADAPTERS = 6

Result = "tuple[Case, str] | None"


# ----------------------------------------------------------------------------------------------------
# The other networks


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[tuple[str, str, bool, float], ...]:
    """(id, case JSON text, RETURNN built it, construction seconds) of every corpus network, by name."""
    root = corpus_dir()
    if root is None:
        return ()
    out = []
    for path in sorted(root.glob("*/*.json")):
        if path.name.endswith(".oracle.json"):
            continue
        answer = path.with_name(path.name[: -len(".json")] + ".oracle.json")
        try:
            oracle = json.loads(answer.read_text())
            text = path.read_text()
        except (OSError, ValueError):
            continue
        out.append((f"{path.parent.name}/{path.stem}", text, bool(oracle.get("ok")),
                    float(oracle.get("construct_s") or 99.0)))
    return tuple(out)


def _donors(built: bool = True) -> list[tuple[str, Case]]:
    """The corpus networks (fresh copies), only those RETURNN builds fast unless ``built`` is False."""
    return [(cid, json.loads(text)) for cid, text, ok, secs in _corpus()
            if not built or (ok and secs < MAX_DONOR_S)]


def _decoders(net: dict[str, Any]) -> list[str]:
    """Searching rec layers of the main network (not ``extra.*:`` ones)."""
    return [r for r in _searching_recs(net) if ":" not in r and "." not in r]


def _data_key(value: object) -> str | None:
    if isinstance(value, str) and not value.startswith("layer:"):
        return value.removeprefix("data:")
    return None


def _label_site(case: Case, unit: dict[str, Any]) -> tuple[str, str, int] | None:
    """The unit's only choice when it picks labels of a data key of known size: (choice, key, size)."""
    choices = _unit_choices(unit)
    if len(choices) != 1 or unit[choices[0]].get("input_type") == "regression":
        return None
    key = _data_key(unit[choices[0]].get("target"))
    dim = _target_dim(case, key)
    if key is None or dim is None:
        return None
    return choices[0], key, dim


def _base_encoder(net: dict[str, Any], rec: str) -> str | None:
    """The root layer the decoder reads as its encoder: ``encoder`` when the decoder reads it (directly or
    through other root layers), else the first root layer (sorted) its unit reads by ``base:``; None when it
    reads none."""
    unit = net[rec]["unit"]
    heads = sorted({r[len("base:"):].split("/", 1)[0] for k in _layers(unit) for r in _deps(unit[k])
                    if r.startswith("base:") and not r.startswith("base:data")})
    heads = [h for h in heads if h in net and net[h].get("class") != "choice"]
    if not heads:
        return None
    if "encoder" in net and "encoder" in _root_ancestors(net, rec):
        return "encoder"
    return heads[0]


def _name(net: dict[str, Any], name: str, taken: set[str]) -> str:
    """``name`` itself, or ``grafted_NAME`` (made fresh) when the base already has a layer of that name."""
    if name not in net and name not in taken:
        return name
    return _fresh(set(net) | taken, f"grafted_{name}")


def _map_keys(value: Any, keys: dict[str, str]) -> Any:
    """``value`` with ``data:KEY`` / ``base:data:KEY`` references mapped by ``keys``."""
    def fn(ref: str) -> str:
        for prefix in ("base:data:", "data:"):
            if ref.startswith(prefix) and ref[len(prefix):] in keys:
                return prefix + keys[ref[len(prefix):]]
        return ref

    return _walk(value, fn)


def _retarget(desc: dict[str, Any], keys: dict[str, str]) -> None:
    """Map the data references and the ``target`` of a layer dict (nested sub-networks too)."""
    _map_refs(desc, lambda r: _map_keys(r, keys))
    target = desc.get("target")
    if isinstance(target, str) and _data_key(target) in keys:
        desc["target"] = keys[target.removeprefix("data:")]
    sub = desc.get("subnetwork")
    if isinstance(sub, dict):
        for k in _layers(sub):
            _retarget(sub[k], keys)


def _renamer(names: dict[str, str]) -> Any:
    """A reference mapper: a plain reference to (a sub-layer of) a layer in ``names`` reads its new name."""
    def fn(ref: str) -> str:
        head = _head(ref)
        return names[head] + ref[len(head):] if head is not None and head in names else ref

    return fn


def _plain_eval(desc: dict[str, Any]) -> bool:
    """Turn an ``eval`` calling a config function into ``source(0)``; whether it did."""
    if desc.get("class") == "eval" and "get_config()" in str(desc.get("eval")):
        desc["eval"] = "source(0)"
        desc.pop("out_type", None)
        return True
    return False


# ----------------------------------------------------------------------------------------------------
# graft-decoder


def _decoder_graft(donor: Case, rec: str) -> tuple[str, list[str]] | None:
    """(the other decoder's encoder, the root layers grafted with it on top of that encoder), or None when
    its unit reads root layers that are not on top of one encoder."""
    dnet = donor["network"]
    unit = dnet[rec]["unit"]
    heads = sorted({r[len("base:"):].split("/", 1)[0] for k in _layers(unit) for r in _deps(unit[k])
                    if r.startswith("base:") and not r.startswith("base:data")})
    if not heads or any(h not in dnet for h in heads):
        return None
    if "encoder" in dnet:
        enc = "encoder"
    elif len(heads) == 1:
        enc = heads[0]
    else:
        return None
    adapters: list[str] = []
    stack = [h for h in heads if h != enc]
    while stack:
        name = stack.pop()
        if name in adapters:
            continue
        desc = dnet[name]
        if "from" not in desc or desc.get("class") in ("rec", "choice", "subnetwork"):
            return None
        adapters.append(name)
        for ref in _deps(desc):
            head = _head(ref)
            if ref.startswith("data") or head == "data":
                return None
            if head is not None and head != enc:
                if head not in dnet:
                    return None
                stack.append(head)
        if len(adapters) > MAX_ADAPTERS:
            return None
    return enc, sorted(adapters)


def op_graft_decoder(case: Case, rng: random.Random) -> Result:
    """The other network's decoder replaces the base's, on the base's encoder."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        site = _label_site(case, net[rec]["unit"])
        enc = _base_encoder(net, rec)
        if site is None or enc is None:
            continue
        subs = {r.split("/", 1)[1].split("/", 1)[0] for k in _layers(net) for r in _deps(net[k])
                if r.startswith(f"{rec}/")}
        sites.append((rec, site, enc, subs))
    if not sites:
        return None
    donors = []
    for did, donor in _donors():
        for drec in _decoders(donor["network"]):
            dsite = _label_site(donor, donor["network"][drec]["unit"])
            graft = _decoder_graft(donor, drec)
            if dsite is not None and graft is not None:
                donors.append((did, donor, drec, dsite, graft))
    if not donors:
        return None
    rec, (_, key, dim), enc, subs = rng.choice(sites)
    did, donor, drec, (_, dkey, ddim), (denc, adapters) = rng.choice(donors)
    dnet = donor["network"]
    if not subs <= set(dnet[drec]["unit"]):
        return None
    mistakes = []
    if dkey != key:
        mistakes.append("target-kept")
    if adapters:
        mistakes.append("adapter-missing")
    fixed = [a for a in adapters if dnet[a].get("class") == "split_dims"
             and isinstance(dnet[a].get("dims"), list) and -1 not in dnet[a]["dims"]]
    sized = [k for k in _layers(dnet[drec]["unit"]) if dnet[drec]["unit"][k].get("n_out") == ddim]
    if (fixed or sized) and ddim != dim:
        mistakes.append("dims-kept")
    if any(a in net for a in adapters):
        mistakes.append("base-layer-reused")
    kind = rng.choice(["wired", "wired", *mistakes])
    names: dict[str, str] = {denc: enc}
    taken: set[str] = set()
    skipped = rng.choice([a for a in adapters if a not in net] or adapters) if kind == "adapter-missing" else None
    reused = rng.choice([a for a in adapters if a in net]) if kind == "base-layer-reused" else None
    for a in adapters:
        if a == skipped:
            continue
        if a == reused:
            names[a] = a
            continue
        names[a] = _name(net, a, taken)
        taken.add(names[a])
    keys = {} if kind == "target-kept" else {dkey: key}

    def move(ref: str) -> str:
        for old, nw in names.items():
            if ref == f"base:{old}" or ref.startswith(f"base:{old}/"):
                return f"base:{nw}" + ref[len(f"base:{old}"):]
        return ref

    for a in adapters:
        if a in (skipped, reused):
            continue
        desc = copy.deepcopy(dnet[a])
        _map_refs(desc, _renamer(names))
        if a in fixed and kind != "dims-kept":
            desc["dims"] = [1, -1]
        net[names[a]] = desc
    dec = copy.deepcopy(dnet[drec])
    unit = dec["unit"]
    for k in _layers(unit):
        _map_refs(unit[k], move)
        _retarget(unit[k], keys)
        if k in sized and kind != "dims-kept":
            unit[k]["n_out"] = dim
    if isinstance(dec.get("target"), str) and dec["target"] in keys:
        dec["target"] = keys[dec["target"]]
    if isinstance(dec.get("max_seq_len"), str):
        dec["max_seq_len"] = dec["max_seq_len"].replace(f"'base:{denc}'", f"'base:{enc}'")
    old = net[rec]
    for opt in ("is_output_layer", "only_on_search"):
        if opt in old and opt not in dec:
            dec[opt] = old[opt]
    net[rec] = dec
    grafted = [names[a] for a in adapters if a in names and a != reused]
    how = {
        "wired": "wired to it",
        "target-kept": f"the other setup's target key {dkey!r} kept (the base's is {key!r})",
        "adapter-missing": f"root {skipped} not grafted (its unit still reads base:{skipped})",
        "dims-kept": f"the other vocabulary size {ddim} and fixed dims kept (the base's {key!r} has {dim})",
        "base-layer-reused": f"the base's own root {reused} read in place of the other one",
    }[kind]
    extra = f", with root {', '.join(grafted)} grafted over {enc}" if grafted else ""
    return new, (f"{rec}: replaced by the decoder {drec} of {did} on the base's encoder {enc} (its "
                 f"{denc}){extra}; {how}")


# ----------------------------------------------------------------------------------------------------
# graft-encoder


def op_graft_encoder(case: Case, rng: random.Random) -> Result:
    """The other network's encoder under the base's decoder."""
    new, net = _copy(case)
    sites = [(rec, enc) for rec in _decoders(net) if (enc := _base_encoder(net, rec)) is not None]
    if not sites:
        return None
    donors = []
    for did, donor in _donors():
        dnet = donor["network"]
        if "encoder" not in dnet or dnet["encoder"].get("class") in ("rec", "choice"):
            continue
        section = sorted(_root_ancestors(dnet, "encoder") | {"encoder"})
        if any(dnet[k].get("class") == "choice" or k in _decoders(dnet) for k in section):
            continue
        heads = [k for k in _layers(dnet) if k not in section and dnet[k].get("loss")
                 and all(_head(r) in section for r in _deps(dnet[k]))]
        donors.append((did, dnet, section, heads))
    if not donors:
        return None
    rec, enc = rng.choice(sites)
    did, dnet, section, heads = rng.choice(donors)
    keys = _sparse_targets(case)
    names: dict[str, str] = {}
    taken: set[str] = set()
    inplace = rng.random() < 0.35
    for k in section:
        if inplace and k == "encoder":
            names[k] = enc
        else:
            names[k] = _name(net, k, taken)
        taken.add(names[k])
    evals = 0
    for k in section:
        desc = copy.deepcopy(dnet[k])
        _map_refs(desc, _renamer(names))
        evals += _plain_eval(desc)
        net[names[k]] = desc
    top = names["encoder"]
    if not inplace:
        net[enc] = {"class": "copy", "from": top}
    how = (f"{enc} takes its encoder layer" if inplace else f"{enc} becomes a copy of {top}")
    how += f" ({len(section)} layers grafted"
    how += f", {evals} config-function eval(s) made source(0))" if evals else ")"
    if heads and rng.random() < 0.5:
        head_kind = rng.choice(["mapped", "kept", "no-loss"])
        added = []
        for h in heads:
            desc = copy.deepcopy(dnet[h])
            _map_refs(desc, _renamer(names))
            target = _data_key(desc.get("target"))
            if head_kind == "mapped" and target is not None and keys:
                desc["target"] = target if target in keys else keys[0]
            elif head_kind == "no-loss":
                for opt in ("loss", "loss_opts", "loss_scale"):
                    desc.pop(opt, None)
                desc["is_output_layer"] = True
            name = _name(net, h, taken)
            taken.add(name)
            net[name] = desc
            added.append(f"{name} (target {desc.get('target')!r})")
        how += {"mapped": "; its heads with the target key mapped: ",
                "kept": "; its heads with the other setup's target: ",
                "no-loss": "; its heads as output layers without loss: "}[head_kind] + ", ".join(added)
    return new, f"{rec}: its encoder {enc} replaced by the encoder of {did}: {how}"


def _sparse_targets(case: Case) -> list[str]:
    """Sparse extern-data keys not available for inference (the base's label targets), sorted."""
    ext = case.get("extern_data") or {}
    out = sorted(k for k, v in ext.items() if isinstance(v, dict) and v.get("available_for_inference") is False
                 and (v.get("sparse") or v.get("sparse_dim")))
    if not out:
        out = sorted(k for k, v in (case.get("num_outputs") or {}).items()
                     if k != "data" and isinstance(v, list) and v[1:] == [1])
    return out


# ----------------------------------------------------------------------------------------------------
# graft-output-section


def op_graft_output_section(case: Case, rng: random.Random) -> Result:
    """The other network's root section reading its decoder, put onto the base's decoder."""
    new, net = _copy(case)
    sites = [(rec, site) for rec in _decoders(net)
             if (site := _label_site(case, net[rec]["unit"])) is not None]
    if not sites:
        return None
    donors = []
    for did, donor in _donors():
        dnet = donor["network"]
        for drec in _decoders(dnet):
            section = set()
            stack = [k for k in _layers(dnet) if any(_head(r) == drec for r in _deps(dnet[k]))]
            while stack:
                k = stack.pop()
                if k in section or dnet[k].get("class") == "rec":
                    continue
                section.add(k)
                stack += [r for r in _layers(dnet) if any(_head(x) == k for x in _deps(dnet[r]))]
            dsite = _label_site(donor, dnet[drec]["unit"])
            inside = all(_head(r) in (*section, drec) or r.startswith("data") for k in section
                         for r in _deps(dnet[k]))
            if section and inside and dsite is not None and len(section) <= 8:
                donors.append((did, dnet, drec, sorted(section), dsite))
    if not donors:
        return None
    rec, (_, key, dim) = rng.choice(sites)
    did, dnet, drec, section, (_, dkey, _) = rng.choice(donors)
    place = rng.choice(["replace", "beside"])
    targets = rng.choice(["mapped", "mapped", "kept", "no-loss"])
    names: dict[str, str] = {drec: rec}
    taken: set[str] = set()
    for k in section:
        names[k] = k if place == "replace" else _name(net, k, taken)
        taken.add(names[k])
    base_keys = _sparse_targets(case)

    move = _renamer(names)
    fixed_dims = 0
    for k in section:
        desc = copy.deepcopy(dnet[k])
        _map_refs(desc, move)
        target = _data_key(desc.get("target"))
        if targets == "mapped" and target is not None:
            desc["target"] = key if target == dkey or target not in base_keys else target
        if targets == "no-loss":
            for opt in ("loss", "loss_opts", "loss_scale"):
                desc.pop(opt, None)
        sparse = desc.get("set_sparse_dim")
        if targets == "mapped" and isinstance(sparse, dict) and "__dim__" in sparse:
            desc["set_sparse_dim"] = {"__dim__": {**sparse["__dim__"], "dimension": dim}}
            fixed_dims += 1
        net[names[k]] = desc
    shown = ", ".join(names[k] for k in section)
    how = {"mapped": f"target keys mapped to {key!r}", "kept": f"the other setup's targets kept ({dkey!r})",
           "no-loss": "their losses dropped"}[targets]
    if fixed_dims:
        how += f", {fixed_dims} sparse dim(s) set to {dim}"
    where = "replacing the base's same-named layers" if place == "replace" else "added beside the base's"
    return new, f"root {shown} (the section of {did} reading its decoder {drec}) put onto {rec}, {where}; {how}"


# ----------------------------------------------------------------------------------------------------
# graft-lm-block


def _lm_block(unit: dict[str, Any]) -> tuple[str, str, str, str, str] | None:
    """(choice, LM subnetwork, its softmax, the fusion layer, the fusion's acoustic input) of a decoder whose
    only choice reads an ``eval`` fusion of the decoder's softmax and an LM softmax over ``prev:CHOICE``."""
    choices = _unit_choices(unit)
    if len(choices) != 1:
        return None
    choice = choices[0]
    src = _sources(unit[choice])
    if len(src) != 1 or src[0] not in unit or unit[src[0]].get("class") != "eval":
        return None
    fusion = src[0]
    parts = _sources(unit[fusion])
    for prob in parts:
        lm_src = _sources(unit.get(prob) or {})
        if len(lm_src) != 1 or lm_src[0] not in unit:
            continue
        lm = lm_src[0]
        if unit[lm].get("class") == "subnetwork" and _sources(unit[lm]) == [f"prev:{choice}"]:
            others = [p for p in parts if p != prob]
            if len(others) == 1 and parts.index(prob) == 1:
                return choice, lm, prob, fusion, others[0]
    return None


def op_graft_lm_block(case: Case, rng: random.Random) -> Result:
    """The other network's external-LM block fused into the base's decoder."""
    new, net = _copy(case)
    sites = []
    for rec in _decoders(net):
        unit = net[rec]["unit"]
        site = _label_site(case, unit)
        if site is not None and len(_sources(unit[site[0]])) == 1 and _sources(unit[site[0]])[0] in unit:
            sites.append((rec, site))
    if not sites:
        return None
    donors = []
    for did, donor in _donors(built=False):
        dnet = donor["network"]
        for drec in _decoders(dnet):
            block = _lm_block(dnet[drec]["unit"])
            dsite = _label_site(donor, dnet[drec]["unit"])
            if block is not None and dsite is not None:
                donors.append((did, dnet[drec]["unit"], block, dsite))
    if not donors:
        return None
    rec, (choice, key, dim) = rng.choice(sites)
    did, dunit, (_, dlm, dprob, dfusion, _), (_, dkey, ddim) = rng.choice(donors)
    unit = net[rec]["unit"]
    am = _sources(unit[choice])[0]
    log_in = unit[choice].get("input_type") == "log_prob"
    mistakes = ["lm-on-reference", "unfused"]
    if ddim != dim:
        mistakes.append("vocab-kept")
    if _data_key(dunit[dprob].get("target")) not in (None, key):
        mistakes.append("target-kept")
    kind = rng.choice(["wired", "wired", *mistakes])
    taken: set[str] = set()
    renamed = []
    for n in (dlm, dprob, dfusion):
        renamed.append(_name(unit, n, taken))
        taken.add(renamed[-1])
    lm, prob, fusion = renamed
    lm_desc = copy.deepcopy(dunit[dlm])
    lm_desc.pop("load_on_init", None)
    label = f"prev:{choice}"
    if kind == "lm-on-reference":
        label = f"data:{rng.choice([key, dkey])}"
    lm_desc["from"] = [label]
    if kind != "vocab-kept":
        if lm_desc.get("n_out") == ddim:
            lm_desc["n_out"] = dim
        sub = lm_desc.get("subnetwork") or {}
        for k in _layers(sub):
            if sub[k].get("n_out") == ddim:
                sub[k]["n_out"] = dim
    prob_desc = copy.deepcopy(dunit[dprob])
    prob_desc["from"] = [lm]
    if kind != "target-kept" and "target" in prob_desc:
        prob_desc["target"] = key
    unit[lm] = lm_desc
    unit[prob] = prob_desc
    if kind == "unfused":
        prob_desc["is_output_layer"] = True
        return new, (f"{rec}: the LM block of {did} ({lm} over {label}, {prob}) added, {prob} an output "
                     f"layer, {choice} left reading {am} (not fused)")
    fusion_desc = copy.deepcopy(dunit[dfusion])
    fusion_desc["from"] = [am, prob]
    text = str(fusion_desc.get("eval"))
    if "get_config()" in text:
        text = "safe_log(source(0)) + 0.3 * safe_log(source(1))"
        fusion_desc.pop("eval_locals", None)
    if log_in:
        text = text.replace("safe_log(source(0))", "source(0)")
    fusion_desc["eval"] = text
    fusion_desc.pop("target", None)
    fusion_desc.pop("loss", None)
    fusion_desc.pop("loss_opts", None)
    unit[fusion] = fusion_desc
    unit[choice]["from"] = [fusion]
    unit[choice]["input_type"] = "log_prob"
    how = {
        "wired": "wired to the base",
        "lm-on-reference": f"the LM reading {label} as in LM training",
        "vocab-kept": f"the LM's vocabulary size {ddim} kept (the base's {key!r} has {dim})",
        "target-kept": f"{prob}'s target {dunit[dprob].get('target')!r} of the other setup kept",
    }[kind]
    return new, (f"{rec}: the LM block of {did} fused in: {lm} (over {label}), {prob}, {fusion} "
                 f"(eval {text!r} over {am} and {prob}); {choice} reads {fusion} as log_prob; {how}")


FRESH63_OPERATORS: tuple[Op, ...] = (
    Op("graft-decoder", op_graft_decoder, 1),
    Op("graft-encoder", op_graft_encoder, 1),
    Op("graft-output-section", op_graft_output_section, 1),
    Op("graft-lm-block", op_graft_lm_block, 1),
)
