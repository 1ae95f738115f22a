"""A fiftieth set of edit operators (issue 15, twelfth session), written and seeded before it was ever
run, after the earlier sets were opened for their names only: held out, looked at as counts only when first
measured.

Layer references that sit in options other than ``from`` (a layer class reads them through its own
``transform_config_dict``), moved between the encoder and the decoder loop, between ``prev:`` and the
current frame, and between a choice's beam and a decided value (none a variant of an earlier operator; no
rule was written for any of them):

* ``length-mask``: a ``seq_len_mask`` is put between a layer and its readers, its lengths or its start
  taken from another layer by an option: inside a decoder loop, the attention energies (the source of a
  ``softmax_over_spatial``) are masked with ``seq_len_source`` an encoder layer the loop reads
  (``base:X``) or the previous attention weights (``prev:W``), or with ``start`` the previous frame's
  label (``prev:CHOICE``) or the frame index (``:i``); at the root, the readers of a searching decoder
  read its output masked with ``seq_len_source`` a ``decide`` of it (an existing one or a new one), the
  decoder itself, or an encoder layer it reads (another time axis), or the readers of a ``decide`` of the
  decoder read the decision masked with the beamed decoder's lengths;
* ``position-offset``: a ``positional_encoding`` added to a layer (``add_to_input``) whose positions are
  shifted by another layer (``offset``): inside a decoder loop, a dense loop layer's readers read it with
  the encoding of the frame index shifted by the previous frame's label (``prev:CHOICE``), by the length of
  an encoder layer (``base:`` a root ``length``) or by the frame index itself (``:i``), the labels read as
  plain integers (``reinterpret_data`` with ``set_sparse: False``); at the root, a new
  output layer encodes an encoder layer's frames shifted by the length of a searching decoder's output
  (``length`` of the decoder, beamed, or of a ``decide`` of it);
* ``initial-by-name``: a loop layer whose previous frame is read gets an ``initial_output`` (for an
  ``rnn_cell``, an ``initial_state``, per ``c`` / ``h`` for an LSTM) that names a layer: another layer of
  the same frame with the same size (a plain name inside the loop), or a new root projection of the mean
  of an encoder layer, spelled as a plain root name (``base:`` forgotten) or as ``base:P``;
* ``target-for-dim``: ``n_out`` against ``target``: a layer that has a ``target`` (a softmax in the loop or
  at the root, not a choice or a rec) loses it (and its loss) and gets ``n_out`` of the target's size; or a
  ``linear`` / ``softmax`` with an ``n_out`` of a label vocabulary gets its size from a ``target`` instead:
  in a decoder loop the data key or the previous frame's choice (``layer:prev:CHOICE``), at the root (a
  layer the decoder does not read, of the vocabulary's size or read by nothing) the searching decoder
  (``layer:REC``) or a ``decide`` of it (``layer:DECIDED``).
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _recs,
    _redirect,
    _refs,
    _root_ancestors,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH48_SEED = 20270110
N_FRESH48 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes with a dense output of their own ``n_out``
_DENSE_N_OUT = ("linear", "rnn_cell", "combine", "activation", "eval", "copy")


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (a target, not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str)]


def _attention_layers(unit: dict[str, Any]) -> set[str]:
    """Attention weights (``softmax_over_spatial``) of a loop unit and what they depend on in the frame."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") == "softmax_over_spatial":
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _base_reads(unit: dict[str, Any], net: dict[str, Any]) -> list[str]:
    """Root layers the loop reads through ``base:`` (sorted, not the data)."""
    out = set()
    for k in _layers(unit):
        for ref in _refs(unit[k]):
            if ref.startswith("base:"):
                head = ref[len("base:"):].split("/", 1)[0]
                if head in net and net[head].get("class") != "rec":
                    out.add(head)
    return sorted(out)


def _decides_of(net: dict[str, Any], rec: str) -> list[str]:
    return [k for k in _layers(net) if net[k].get("class") == "decide" and _sources(net[k]) == [rec]]


def _decide(net: dict[str, Any], rec: str, rng: random.Random) -> tuple[str, str]:
    """An existing ``decide`` of ``rec`` or a new one: (name, how)."""
    have = _decides_of(net, rec)
    if have and rng.random() < 0.6:
        return rng.choice(have), "existing"
    name = _fresh(net, f"{rec}_decided")
    net[name] = {"class": "decide", "from": rec}
    return name, "new"


def _enc_with_size(net: dict[str, Any], rec: str) -> list[str]:
    """Root layers ``rec`` reads (transitively) with an int ``n_out`` (encoder layers with a time axis)."""
    return [k for k in sorted(_root_ancestors(net, rec)) if isinstance(net[k].get("n_out"), int)
            and net[k].get("class") not in ("rec", "choice", "decide", "reduce", "length")]


def _dense_loop_layers(unit: dict[str, Any]) -> list[str]:
    """Loop layers with an int ``n_out`` (not over the encoder's time axis, not the end, no target)."""
    att = _attention_layers(unit)
    return [k for k in _layers(unit) if k != "end" and k not in att and unit[k].get("class") in _DENSE_N_OUT
            and isinstance(unit[k].get("n_out"), int) and not unit[k].get("target")]


def op_length_mask(case: Case, rng: random.Random) -> Result:
    """A ``seq_len_mask`` between a layer and its readers, its lengths or start from another layer."""
    new, net = _copy(case)
    loop_sites, root_sites = [], []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for w in _layers(unit):
            if unit[w].get("class") != "softmax_over_spatial":
                continue
            for e in _sources(unit[w]):
                if e in unit:
                    loop_sites.append((rec, w, e))
        if _readers(net, rec):
            root_sites.append(rec)
    if not loop_sites and not root_sites:
        return None
    if loop_sites and (not root_sites or rng.random() < 0.5):
        rec, weights, energy = rng.choice(loop_sites)
        unit = net[rec]["unit"]
        opts: list[tuple[str, str]] = [("seq_len_source", f"prev:{weights}"), ("start", ":i")]
        opts += [("seq_len_source", f"base:{x}") for x in _base_reads(unit, net)]
        opts += [("start", f"prev:{c}") for c in _label_choices(unit)]
        opts += [("start", c) for c in _label_choices(unit) if energy not in _frame_ancestors(unit, c) | {c}]
        key, ref = rng.choice(opts)
        readers = _readers(unit, energy)
        mask = _fresh(unit, f"{energy}_masked")
        unit[mask] = {"class": "seq_len_mask", "from": energy, "axis": "T", "mask_value": -1e9, key: ref}
        if ref.startswith("prev:"):
            head = ref[len("prev:"):]
            if unit[head].get("class") != "choice" and "initial_output" not in unit[head]:
                unit[head]["initial_output"] = 0
        _redirect(unit, readers, energy, mask)
        return new, f"{rec}: {', '.join(readers)} read {mask}, {energy} masked with {key} {ref!r}"
    rec = rng.choice(root_sites)
    readers = _readers(net, rec)
    decided = [r for r in readers if net[r].get("class") == "decide"]
    kind = rng.choices(["decide", "self", "encoder", "decision"], [3, 1, 1, 2 if decided else 0])[0]
    if kind == "decision":
        dec = rng.choice(decided)
        users = _readers(net, dec)
        mask = _fresh(net, f"{dec}_masked")
        net[mask] = {"class": "seq_len_mask", "from": dec, "axis": "T", "mask_value": 0, "seq_len_source": rec}
        if users:
            _redirect(net, users, dec, mask)
            how = f"{', '.join(users)} read {mask}"
        else:
            net[mask]["is_output_layer"] = True
            how = f"output layer {mask}"
        return new, f"{how}: the decision {dec} masked with the lengths of the beamed {rec}"
    if kind == "decide":
        src, how = _decide(net, rec, rng)
        src_desc = f"{how} decide {src}"
        readers = [r for r in readers if r != src]
    elif kind == "self":
        src, src_desc = rec, "the decoder itself"
    else:
        encs = [k for k in sorted(_root_ancestors(net, rec)) if net[k].get("class") not in ("length", "reduce")]
        if not encs:
            return None
        src = rng.choice(encs)
        src_desc = f"encoder layer {src}"
    mask = _fresh(net, f"{rec}_masked")
    net[mask] = {"class": "seq_len_mask", "from": rec, "axis": "T", "mask_value": 0, "seq_len_source": src}
    if readers:
        _redirect(net, readers, rec, mask)
        how = f"{', '.join(readers)} read {mask}"
    else:
        net[mask]["is_output_layer"] = True
        how = f"output layer {mask}"
    return new, f"{how}: {rec} masked with seq_len_source {src} ({src_desc})"


def op_position_offset(case: Case, rng: random.Random) -> Result:
    """A ``positional_encoding`` added to a layer, its positions shifted by another layer (``offset``)."""
    new, net = _copy(case)
    # the encoding needs at least two channels
    loop_sites = [(r, k) for r in _searching_recs(net) for k in _dense_loop_layers(net[r]["unit"])
                  if _readers(net[r]["unit"], k) and net[r]["unit"][k]["n_out"] >= 2]
    root_sites = [(r, e) for r in _searching_recs(net) for e in _enc_with_size(net, r) if net[e]["n_out"] >= 2]
    if not loop_sites and not root_sites:
        return None
    if loop_sites and (not root_sites or rng.random() < 0.6):
        rec, name = rng.choice(loop_sites)
        unit = net[rec]["unit"]
        opts = [":i"] + [f"prev:{c}" for c in _label_choices(unit)]
        opts += [c for c in _label_choices(unit) if name not in _frame_ancestors(unit, c) | {c}]
        encs = _base_reads(unit, net)
        if encs:
            opts.append("<length>")
        offset = rng.choice(opts)
        via = ""
        if offset == "<length>":
            enc = rng.choice(encs)
            length = _fresh(net, f"{enc}_length")
            net[length] = {"class": "length", "from": enc}
            offset = f"base:{length}"
        elif offset != ":i":
            # labels are sparse: the offset reads them as plain integers
            dense = _fresh(unit, f"{offset.replace('prev:', 'prev_')}_index")
            unit[dense] = {"class": "reinterpret_data", "from": offset, "set_sparse": False}
            offset, via = dense, f" (the labels of {offset} as integers)"
        readers = _readers(unit, name)
        pos = _fresh(unit, f"{name}_pos")
        unit[pos] = {"class": "positional_encoding", "from": name, "add_to_input": True, "offset": offset}
        _redirect(unit, readers, name, pos)
        return new, f"{rec}: {', '.join(readers)} read {pos}, {name} plus positions shifted by {offset!r}{via}"
    rec, enc = rng.choice(root_sites)
    if rng.random() < 0.5:
        of, how = rec, "the beamed decoder"
    else:
        of, how = _decide(net, rec, rng)
        how = f"{how} decide {of}"
    length = _fresh(net, f"{of}_length")
    net[length] = {"class": "length", "from": of}
    pos = _fresh(net, f"{enc}_pos_after_{rec}")
    net[pos] = {"class": "positional_encoding", "from": enc, "add_to_input": True, "offset": length,
                "is_output_layer": True}
    return new, f"output layer {pos}: {enc} plus positions shifted by {length} (length of {how})"


def op_initial_by_name(case: Case, rng: random.Random) -> Result:
    """A loop layer whose previous frame is read starts from a layer named in ``initial_output`` /
    ``initial_state``."""
    new, net = _copy(case)
    sites = []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        read_prev = {r[len("prev:"):].split("/")[0] for k in _layers(unit) for r in _refs(unit[k])
                     if r.startswith("prev:")}
        for k in _layers(unit):
            if k in read_prev and k in _dense_loop_layers(unit):
                sites.append((rec, k))
    if not sites:
        return None
    rec, name = rng.choice(sites)
    unit = net[rec]["unit"]
    desc = unit[name]
    size = desc["n_out"]
    twins = [k for k in _dense_loop_layers(unit) if k != name and unit[k]["n_out"] == size]
    encs = [k for k in _enc_with_size(net, rec)]
    kinds = (["frame"] * 4 if twins else []) + (["plain", "plain", "base"] if encs else [])
    if not kinds:
        return None
    kind = rng.choice(kinds)
    if kind == "frame":
        ref = rng.choice(twins)
        what = f"loop layer {ref} of the same frame"
    else:
        enc = rng.choice(encs)
        mean = _fresh(net, f"{enc}_mean")
        net[mean] = {"class": "reduce", "mode": "mean", "axis": "T", "from": enc}
        proj = _fresh(net, f"{name}_init")
        net[proj] = {"class": "linear", "activation": "tanh", "from": mean, "n_out": size}
        ref = proj if kind == "plain" else f"base:{proj}"
        what = f"root projection {proj} of the mean of {enc}" + (" (no base:)" if kind == "plain" else "")
    old = desc.get("initial_output", desc.get("initial_state", "<unset>"))
    if desc.get("class") == "rnn_cell":
        lstm = str(desc.get("unit", "")).lower() in ("lstmblock", "lstm", "nativelstm", "nativelstm2",
                                                     "standardlstm", "basiclstm", "lstmblockfused")
        if lstm:
            key = rng.choice(["c", "h"])
            desc["initial_state"] = {key: ref, "h" if key == "c" else "c": "zeros"}
            opt = f"initial_state[{key}]"
        else:
            desc["initial_state"] = ref
            opt = "initial_state"
        desc.pop("initial_output", None)
    else:
        desc["initial_output"] = ref
        opt = "initial_output"
    return new, f"{opt} of {rec}/{name}: {old!r} -> {ref!r} ({what})"


def op_target_for_dim(case: Case, rng: random.Random) -> Result:
    """``n_out`` against ``target``: a target dropped for its size, or a size taken from a target."""
    new, net = _copy(case)
    sparse = {k: d for k in _sparse_keys(case) if (d := _target_dim(case, k))}
    drop_sites, loop_sites, root_sites = [], [], []
    for rec in _recs(net):
        unit = net[rec]["unit"]
        choices = _label_choices(unit)
        for k in _layers(unit):
            desc = unit[k]
            if desc.get("class") not in ("linear", "softmax"):
                continue
            tgt = desc.get("target")
            if isinstance(tgt, str) and tgt in sparse:
                drop_sites.append((rec, k))
            elif not tgt and desc.get("n_out") in sparse.values():
                opts = [f"layer:prev:{c}" for c in choices if sparse.get(unit[c]["target"]) == desc["n_out"]]
                opts += [key for key, dim in sorted(sparse.items()) if dim == desc["n_out"]]
                loop_sites += [(rec, k, o) for o in opts]
    for k in _layers(net):
        desc = net[k]
        # a root layer nothing reads that is not an output is not built in search: no site
        if desc.get("class") not in ("linear", "softmax") or not (_readers(net, k) or desc.get("is_output_layer")):
            continue
        tgt = desc.get("target")
        if isinstance(tgt, str) and tgt in sparse:
            drop_sites.append((None, k))
        elif not tgt and isinstance(desc.get("n_out"), int):
            for rec in _searching_recs(net):
                if k in _root_ancestors(net, rec):
                    continue  # the decoder reads it: its target would make a cycle
                dims = {sparse.get(net[rec]["unit"][c]["target"]) for c in _label_choices(net[rec]["unit"])}
                if isinstance(net[rec].get("target"), str):
                    dims.add(sparse.get(net[rec]["target"]))
                # the size stays (a vocabulary), or nothing reads the layer
                if desc["n_out"] in dims or not _readers(net, k):
                    root_sites.append((k, rec))
    kinds = (["drop"] if drop_sites else []) + (["loop"] * 2 if loop_sites else []) \
        + (["root"] * 2 if root_sites else [])
    if not kinds:
        return None
    kind = rng.choice(kinds)
    if kind == "drop":
        rec, name = rng.choice(drop_sites)
        desc = net[name] if rec is None else net[rec]["unit"][name]
        old = desc.pop("target")
        lost = [o for o in ("loss", "loss_opts", "loss_scale") if desc.pop(o, None) is not None]
        desc["n_out"] = sparse[old]
        where = name if rec is None else f"{rec}/{name}"
        extra = f" (and its {', '.join(lost)})" if lost else ""
        return new, f"{where}: target {old!r} dropped{extra} for n_out {sparse[old]}"
    if kind == "loop":
        rec, name, target = rng.choice(loop_sites)
        desc = net[rec]["unit"][name]
        old = desc.pop("n_out")
        desc["target"] = target
        return new, f"{rec}/{name}: n_out {old} -> target {target!r}"
    name, rec = rng.choice(root_sites)
    if rng.random() < 0.5:
        src, how = rec, "the searching decoder"
    else:
        src, how = _decide(net, rec, rng)
        how = f"{how} decide of {rec}"
    old = net[name].pop("n_out")
    net[name]["target"] = f"layer:{src}"
    return new, f"{name}: n_out {old} -> target 'layer:{src}' ({how})"


FRESH48_OPERATORS: tuple[Op, ...] = (
    Op("length-mask", op_length_mask, 1.4),
    Op("position-offset", op_position_offset, 0.7),
    Op("initial-by-name", op_initial_by_name, 1),
    Op("target-for-dim", op_target_for_dim, 1),
)
