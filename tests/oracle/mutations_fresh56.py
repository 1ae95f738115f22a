"""A fifty-eighth set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Per-sequence side information fed to a searching decoder: a speaker, language or domain id (or a dense
per-utterance vector such as an i-vector) that the data brings as a new extern-data key with no time axis
(one value per sequence), embedded at the root or in the loop and read by the loop's layers, or predicted
from the encoder when the data does not bring it. No earlier operator adds an extern-data key for the
decoder to read: ``extern-flags`` only flips a key's flag, ``registered-train-target`` registers a root
layer's output as a target, and the root tensors with a batch axis of their own (``batch-bias-in-loop``,
``batch-initial-state``, ``length-feature``) are constants, variables, random values or lengths, not data
the search is given; none conditions the choice's vocabulary or a loop layer's scale on such an id, and
none makes a root choice over a time-less classifier ahead of the decoder (none a variant of an earlier
operator; no rule was written for any of them):

* ``speaker-embed``: a new extern-data key (a sparse speaker id with ``shape: []``, or a dense i-vector with
  ``shape: [D]``; now and then declared ``available_for_inference: False``, as the entry was copied from
  the targets) is embedded by a ``linear`` at the root and read by a dense loop layer as an extra source
  through ``base:``, or embedded inside the loop from ``base:data:KEY`` (or from ``data:KEY``, the
  ``base:`` forgotten);
* ``vocab-mask``: a language id (a new sparse extern-data key) gives a learned per-sequence mask over the
  output vocabulary (a root ``linear`` with ``sigmoid``, or the same made in the loop from
  ``base:data:KEY``), and a loop choice reads its scores times the mask (``combine`` ``mul`` or ``eval``),
  or, for ``log_prob`` input, plus its ``safe_log``;
* ``film``: the readers of a dense loop layer read it scaled and shifted by projections of a domain or
  speaker id (``eval`` ``source(0) * (1 + source(1)) + source(2)`` with the projections at the root read
  through ``base:``, or made in the loop; or only shifted, ``combine`` ``add``);
* ``predicted-language``: the language is predicted from the encoder (a root ``softmax`` over the
  ``reduce`` mean over time of an encoder layer the decoder reads, with a new target key not available for
  inference, maybe with a ``ce`` loss) and the decoder reads an embedding of the prediction through
  ``base:``: a root ``choice`` over the classifier (beam size 1, 2 or 4, or ``search: False``), a
  ``reduce`` ``argmax`` made sparse by ``reinterpret_data``, or the soft class probabilities themselves.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _copy,
    _data_keys,
    _frame_ancestors,
    _fresh,
    _layers,
    _readers,
    _redirect,
    _searching_recs,
    _sources,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH56_SEED = 20270118
N_FRESH56 = 80

Result = "tuple[Case, str] | None"

#: loop layer classes that learn their input size (an extra source is fine for them)
_LEARNING = ("linear", "rnn_cell", "softmax")
#: float loop layer classes whose output a user would scale and shift
_DENSE = ("linear", "activation", "rnn_cell", "combine", "eval", "copy")
#: root classes of encoder layers with a time axis a user pools over
_ENCODER = ("linear", "rec", "copy", "layer_norm", "conv", "activation", "combine", "eval", "pool",
            "self_attention", "dropout", "split_dims", "merge_dims", "norm", "batch_norm")


def _data_table(case: Case) -> dict[str, Any] | None:
    """The dict of data keys a new key goes into: ``extern_data``, else ``num_outputs`` (RETURNN takes
    dict values there as they are)."""
    for field in ("extern_data", "num_outputs"):
        table = case.get(field)
        if isinstance(table, dict):
            return table
    return None


def _add_key(case: Case, base: str, entry: dict[str, Any]) -> str | None:
    table = _data_table(case)
    if table is None:
        return None
    key = _fresh(_data_keys(case), base)
    table[key] = entry
    return key


def _attention_layers(unit: dict[str, Any]) -> set[str]:
    """Attention weights (``softmax_over_spatial``) of a loop unit and what they depend on in the frame
    (layers that may run over the encoder's time axis)."""
    out: set[str] = set()
    for k in _layers(unit):
        if unit[k].get("class") in ("softmax_over_spatial", "generic_attention", "dot_attention"):
            out |= {k} | _frame_ancestors(unit, k)
    return out


def _over_base(unit: dict[str, Any], name: str) -> bool:
    """Whether a loop layer reads a root layer directly (it may have the encoder's time axis)."""
    return any(s.startswith("base:") for s in _sources(unit[name]))


def _source_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, layer) of the loop layers of searching decoders that learn their input size and take a frame
    vector: a per-sequence vector can be an extra source of theirs. A decoder with a twin in an extra net
    (``extra.search:NAME`` and ``NAME``, sharing parameters by name) is left alone: its layers' weights would
    no longer match the twin's."""
    out = []
    recs = _searching_recs(net)
    for rec in recs:
        if any(r != rec and r.split(":")[-1] == rec.split(":")[-1] for r in recs):
            continue
        unit = net[rec]["unit"]
        att = _attention_layers(unit)
        for k in _layers(unit):
            desc = unit[k]
            cls = desc.get("class")
            lstm = cls == "rec" and isinstance(desc.get("unit"), str)
            if k == "end" or k in att or not (cls in _LEARNING or lstm) or not _sources(desc):
                continue
            if desc.get("reuse_params") or _over_base(unit, k) or not isinstance(desc.get("from"), (str, list)):
                continue
            if isinstance(desc.get("from"), list) and len(_sources(desc)) != len(desc["from"]):
                continue
            out.append((rec, k))
    return out


def _dense_sites(net: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(rec, layer, size) of float loop layers with a known size that other loop layers read in the frame
    (not an attention's, no target of their own)."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        att = _attention_layers(unit)
        for k in _layers(unit):
            desc = unit[k]
            if k == "end" or k in att or desc.get("class") not in _DENSE or desc.get("target"):
                continue
            if not isinstance(desc.get("n_out"), int) or _over_base(unit, k):
                continue
            if _readers(unit, k):
                out.append((rec, k, desc["n_out"]))
    return out


def _id_entry(dim: int, available: bool) -> dict[str, Any]:
    return {"shape": [], "sparse": True, "dim": dim, "available_for_inference": available}


def op_speaker_embed(case: Case, rng: random.Random) -> Result:
    """A new per-sequence extern-data key, embedded at the root or in the loop, read by a dense loop layer
    as an extra source."""
    new, net = _copy(case)
    sites = _source_sites(net)
    if not sites or _data_table(new) is None:
        return None
    rec, site = rng.choice(sites)
    unit = net[rec]["unit"]
    available = rng.random() >= 0.2
    if rng.random() < 0.3:
        size = rng.choice([32, 100])
        key = _add_key(new, "ivector", {"shape": [size], "dim": size, "available_for_inference": available})
        what = f"a dense i-vector of size {size}"
    else:
        size = rng.choice([4, 16, 251])
        key = _add_key(new, rng.choice(["speaker", "spk_id"]), _id_entry(size, available))
        what = f"a speaker id of {size} classes"
    assert key is not None
    n_out = rng.choice([8, 16, 32])
    draw = rng.random()
    if draw < 0.6:
        emb = _fresh(net, f"{key}_embed")
        net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": f"data:{key}",
                    "n_out": n_out}
        ref, where = f"base:{emb}", f"root {emb}"
    else:
        emb = _fresh(unit, f"{key}_embed")
        src = f"base:data:{key}" if draw < 0.85 else f"data:{key}"
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": src, "n_out": n_out}
        ref, where = emb, f"{rec}/{emb} from {src}"
    _add_source(unit[site], ref)
    flag = "" if available else " (declared not available for inference)"
    return new, f"new extern key {key}: {what}{flag}, embedded by {where}; {rec}/{site} reads {ref} too"


def op_vocab_mask(case: Case, rng: random.Random) -> Result:
    """A per-sequence mask over the vocabulary from a language id; a loop choice reads its scores masked."""
    new, net = _copy(case)
    if _data_table(new) is None:
        return None
    sites = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _unit_choices(unit):
            desc = unit[c]
            srcs = _sources(desc)
            if desc.get("input_type") not in (None, "prob", "log_prob") or len(srcs) != 1:
                continue
            if isinstance(desc.get("from"), list) and len(desc["from"]) != 1:
                continue
            scores = srcs[0]
            if scores not in unit:
                continue
            dim = _target_dim(case, desc.get("target"))
            if not dim and isinstance(unit[scores].get("n_out"), int):
                dim = unit[scores]["n_out"]
            if dim:
                sites.append((rec, c, scores, dim))
    if not sites:
        return None
    rec, choice, scores, dim = rng.choice(sites)
    unit = net[rec]["unit"]
    n_lang = rng.choice([2, 3, 8])
    key = _add_key(new, rng.choice(["lang", "language"]), _id_entry(n_lang, rng.random() >= 0.2))
    assert key is not None
    mask_desc = {"class": "linear", "activation": "sigmoid", "n_out": dim}
    if rng.random() < 0.7:
        mask = _fresh(net, f"{key}_vocab_mask")
        net[mask] = {**mask_desc, "from": f"data:{key}"}
        ref, where = f"base:{mask}", f"root {mask}"
    else:
        mask = _fresh(unit, f"{key}_vocab_mask")
        unit[mask] = {**mask_desc, "from": f"base:data:{key}"}
        ref, where = mask, f"{rec}/{mask} from base:data:{key}"
    masked = _fresh(unit, f"{scores}_masked")
    if unit[choice].get("input_type") == "log_prob":
        unit[masked] = {"class": "eval", "from": [scores, ref], "eval": "source(0) + safe_log(source(1))"}
        how = "plus the log of"
    elif rng.random() < 0.5:
        unit[masked] = {"class": "combine", "kind": "mul", "from": [scores, ref]}
        how = "times"
    else:
        unit[masked] = {"class": "eval", "from": [scores, ref], "eval": "source(0) * source(1)"}
        how = "times"
    unit[choice]["from"] = [masked] if isinstance(unit[choice]["from"], list) else masked
    return new, (f"new extern key {key} (a language id of {n_lang}); {where} masks the {dim} labels; "
                 f"{rec}/{choice} reads {masked}: {scores} {how} {ref}")


def op_film(case: Case, rng: random.Random) -> Result:
    """The readers of a dense loop layer read it scaled and shifted by projections of a per-sequence id."""
    new, net = _copy(case)
    sites = _dense_sites(net)
    if not sites or _data_table(new) is None:
        return None
    rec, name, size = rng.choice(sites)
    unit = net[rec]["unit"]
    n_ids = rng.choice([3, 10, 40])
    key = _add_key(new, rng.choice(["domain", "speaker"]), _id_entry(n_ids, rng.random() >= 0.15))
    assert key is not None
    in_loop = rng.random() < 0.25
    scope, src = (unit, f"base:data:{key}") if in_loop else (net, f"data:{key}")
    shift_only = rng.random() < 0.3
    beta = _fresh(scope, f"{key}_shift")
    scope[beta] = {"class": "linear", "activation": None, "from": src, "n_out": size}
    refs = [beta if in_loop else f"base:{beta}"]
    if not shift_only:
        gamma = _fresh(scope, f"{key}_scale")
        scope[gamma] = {"class": "linear", "activation": None, "from": src, "n_out": size}
        refs.insert(0, gamma if in_loop else f"base:{gamma}")
    readers = _readers(unit, name)
    film = _fresh(unit, f"{name}_film")
    if shift_only:
        unit[film] = {"class": "combine", "kind": "add", "from": [name, *refs]}
        how = f"{name} + {refs[0]}"
    else:
        unit[film] = {"class": "eval", "from": [name, *refs], "eval": "source(0) * (1 + source(1)) + source(2)"}
        how = f"{name} * (1 + {refs[0]}) + {refs[1]}"
    _redirect(unit, readers, name, film)
    where = f"in {rec}" if in_loop else "at the root"
    return new, (f"new extern key {key} (an id of {n_ids}), projected {where}; {rec}: {', '.join(readers)} "
                 f"read {film} = {how}")


def _dense_input(case: Case) -> bool:
    """Whether the input data ``data`` is a dense sequence of frames (not labels)."""
    entry = (_data_table(case) or {}).get("data")
    if isinstance(entry, dict):
        return not (entry.get("sparse") or entry.get("sparse_dim"))
    return isinstance(entry, list) and entry[1:] == [2]


def _encoder_layers(case: Case, net: dict[str, Any], rec: str) -> list[str]:
    """Root layers with a time axis that the decoder reads (through ``base:`` or its ``from``); the input
    data itself where it is dense and the decoder reads it."""
    unit = net[rec]["unit"]
    read: set[str] = set()
    for k in _layers(unit):
        for s in _sources(unit[k]):
            if s.startswith("base:") and not s.startswith("base:data"):
                read.add(s[len("base:"):].split("/", 1)[0])
            elif s in ("base:data", "data:source"):
                read.add("data")
    read |= {s for s in _sources(net[rec]) if ":" not in s}
    out = ["data"] if "data" in read and "data" not in net and _dense_input(case) else []
    for k in sorted(read & set(net)):
        desc = net[k]
        cls = desc.get("class")
        if cls == "rec" and not isinstance(desc.get("unit"), str):
            continue
        if cls in _ENCODER and not desc.get("target"):
            out.append(k)
    return out


def op_predicted_language(case: Case, rng: random.Random) -> Result:
    """A language classifier over the pooled encoder; the decoder reads an embedding of its prediction (a
    root choice, an argmax, or the soft probabilities)."""
    new, net = _copy(case)
    if _data_table(new) is None:
        return None
    sites = [(rec, site, enc) for rec, site in _source_sites(net) for enc in _encoder_layers(case, net, rec)]
    if not sites:
        return None
    rec, site, enc = rng.choice(sites)
    unit = net[rec]["unit"]
    n_lang = rng.choice([2, 4, 10])
    key = _add_key(new, rng.choice(["lang", "language_id"]), _id_entry(n_lang, False))
    assert key is not None
    pooled = _fresh(net, f"{enc}_pooled")
    net[pooled] = {"class": "reduce", "mode": "mean", "axes": "T", "from": enc}
    lid = _fresh(net, "lang_id")
    net[lid] = {"class": "softmax", "from": pooled, "n_out": n_lang, "target": key}
    if rng.random() < 0.5:
        net[lid]["loss"] = "ce"
    draw = rng.random()
    if draw < 0.4:
        pred = _fresh(net, f"{lid}_choice")
        beam = rng.choice([1, 2, 4])
        net[pred] = {"class": "choice", "from": lid, "target": key, "beam_size": beam}
        how = f"a root choice {pred} (beam size {beam})"
    elif draw < 0.55:
        pred = _fresh(net, f"{lid}_choice")
        net[pred] = {"class": "choice", "from": lid, "target": key, "beam_size": 1, "search": False}
        how = f"a root choice {pred} with search False"
    elif draw < 0.8:
        arg = _fresh(net, f"{lid}_argmax")
        net[arg] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": lid}
        pred = _fresh(net, f"{lid}_label")
        net[pred] = {"class": "reinterpret_data", "from": arg, "set_sparse": True, "set_sparse_dim": n_lang}
        how = f"the argmax {arg} made sparse by {pred}"
    else:
        pred, how = lid, "its soft probabilities"
    emb = _fresh(net, f"{key}_embed")
    net[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": pred,
                "n_out": rng.choice([8, 16])}
    _add_source(unit[site], f"base:{emb}")
    return new, (f"new target key {key}; root {lid} classifies the mean of {enc} over time into {n_lang} "
                 f"languages; {rec}/{site} reads base:{emb}, an embedding of {how}")


FRESH56_OPERATORS: tuple[Op, ...] = (
    Op("speaker-embed", op_speaker_embed, 1),
    Op("vocab-mask", op_vocab_mask, 1),
    Op("film", op_film, 1),
    Op("predicted-language", op_predicted_language, 1),
)
