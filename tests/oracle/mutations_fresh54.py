"""A fifty-sixth set of edit operators (issue 15, thirteenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Decoders ported from other toolkits (fairseq, ESPnet, Lingvo) into a RETURNN rec unit: the parts of a
transformer decoder step that the earlier sets did not write, put into the loop of a searching decoder of
our bases (none a variant of an earlier operator; no rule was written for any of them):

* ``tied-lookup``: input and output embeddings tied as in fairseq's ``share_decoder_input_output_embed``:
  one embedding matrix, a ``variable`` of shape ``[vocab, d]`` (at the root, read as ``base:``, or in the
  loop itself), is both the label embedding (a ``gather`` of it at the label the old embedding read: the
  previous frame's, or this frame's where the embedding is read as ``prev:``; maybe scaled by ``sqrt(d)``
  with an ``eval``; under the embedding's old name) and the output projection: the choice's
  scores become the ``softmax`` (an ``activation`` layer, or ``log_softmax`` with ``input_type:
  log_prob``) of a ``dot`` of a ``linear`` projection of the scores' old sources to ``d`` with the same
  matrix over ``d`` (logits ``[B, vocab]``), the training loss of the old scores left out;
* ``embed-scale-pos``: the decoder input of a transformer port: the label embedding's readers read it
  scaled by ``sqrt(d)`` (``eval``) plus an absolute position of the frame: a sinusoidal
  ``positional_encoding`` (its own step counter; ``add_to_input``, or the encoding alone added by a
  ``combine``), or a learned one (a ``gather`` of a ``variable`` ``[max_len, d]``, root or
  loop, at the frame index ``:i`` or, as fairseq counts them after the padding index, at ``:i`` plus 2),
  maybe followed by ``dropout``; where the embedding is made of this frame's label and read as ``prev:``,
  the readers read ``prev:`` of the new chain;
* ``rel-pos-self-att``: a decoder self-attention with relative positions (Shaw et al., as in ESPnet's
  ``rel_pos`` decoders): a ``relative_positional_encoding`` of the attention's input (its size the key
  size per head, ``clipping`` 8 to 64, learned or ``fixed``) is the ``key_shift`` of a left-only
  ``self_attention`` in the loop: an existing one, or a new residual block on the label embedding
  (pre-norm ``layer_norm`` or none, one to four heads, ``combine`` add) read instead of the embedding;
* ``shared-repeat``: one transformer decoder block repeated two or three times with its parameters shared,
  as Lingvo's repeat layer or a universal transformer is ported: each repeat a residual left-only
  ``self_attention`` and a residual ``relu`` feed-forward pair (pre-norm ``layer_norm``), every repeat
  after the first taking the first one's parameters (``reuse_params`` naming the first repeat's layer as a
  string, a ``reuse_layer`` or a ``map`` of its parameters); the top repeat is read instead of the label
  embedding.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _copy,
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
FRESH54_SEED = 20270116
N_FRESH54 = 80

Result = "tuple[Case, str] | None"


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (a target, not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str)]


def _embeddings(unit: dict[str, Any], choice: str) -> list[tuple[str, bool]]:
    """(layer, current) of the label embeddings of ``choice``: ``linear`` layers of a known size over
    ``prev:CHOICE`` (current False) that are read in the frame, or over ``CHOICE`` itself (current True)
    that are read as ``prev:``."""
    out = []
    for k in _layers(unit):
        desc = unit[k]
        if desc.get("class") != "linear" or not isinstance(desc.get("n_out"), int) or desc["n_out"] < 2:
            continue
        srcs = _sources(desc)
        if srcs == [f"prev:{choice}"] and _readers(unit, k):
            out.append((k, False))
        elif srcs == [choice] and _readers(unit, k, f"prev:{k}"):
            out.append((k, True))
    return out


def _embedding_sites(net: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [(rec, c, emb, cur) for rec in _searching_recs(net) for c in _label_choices(net[rec]["unit"])
            for emb, cur in _embeddings(net[rec]["unit"], c)]


def _read_instead(unit: dict[str, Any], emb: str, current: bool, new: str, keep: set[str]) -> list[str]:
    """Let the readers of the embedding (of ``prev:`` of it when ``current``) read ``new`` instead; the
    layers in ``keep`` (the new chain) stay as they are."""
    if current:
        readers = [r for r in _readers(unit, emb, f"prev:{emb}") if r not in keep]
        _redirect(unit, readers, f"prev:{emb}", f"prev:{new}")
        if "initial_output" in unit[emb]:
            unit[new]["initial_output"] = unit[emb]["initial_output"]
    else:
        readers = [r for r in _readers(unit, emb) if r not in keep]
        _redirect(unit, readers, emb, new)
    return readers


def _scale(d: int) -> str:
    return f"source(0) * {math.sqrt(d):.4f}"


def _add_root_or_loop(net: dict[str, Any], unit: dict[str, Any], base: str, desc: dict[str, Any],
                      root: bool) -> tuple[str, str, str]:
    """Add ``desc`` at the root (returns ``base:NAME``) or in the loop; (name, reference, where)."""
    if root:
        name = _fresh(set(net) | set(unit), base)
        net[name] = desc
        return name, f"base:{name}", "root"
    name = _fresh(unit, base)
    unit[name] = desc
    return name, name, "loop"


def op_tied_lookup(case: Case, rng: random.Random) -> Result:
    """One embedding matrix both gathered at the previous label and dotted with the decoder state for the
    choice's logits."""
    new, net = _copy(case)
    sites = []
    for rec, choice, emb, current in _embedding_sites(net):
        unit = net[rec]["unit"]
        vocab = _target_dim(case, unit[choice]["target"])
        scores = _sources(unit[choice])
        if not vocab or len(scores) != 1 or scores[0] not in unit:
            continue
        sdesc = unit[scores[0]]
        if sdesc.get("class") != "softmax" and not (
                sdesc.get("class") == "linear" and sdesc.get("activation") in ("softmax", "log_softmax")):
            continue
        if not _sources(sdesc):
            continue
        sites.append((rec, choice, emb, current, scores[0], vocab))
    if not sites:
        return None
    rec, choice, emb, current, score, vocab = rng.choice(sites)
    label = choice if current else f"prev:{choice}"
    unit = net[rec]["unit"]
    d = unit[emb]["n_out"]
    table_desc: dict[str, Any] = {"class": "variable", "shape": [vocab, d], "init": "glorot_uniform"}
    table, table_ref, where = _add_root_or_loop(net, unit, f"{emb}_table", table_desc, rng.random() < 0.6)
    old_emb = unit[emb]
    gather: dict[str, Any] = {"class": "gather", "from": table_ref, "position": label,
                              "axis": "static:0"}
    scaled = rng.random() < 0.5
    if scaled:
        look = _fresh(unit, f"{emb}_lookup")
        unit[look] = gather
        unit[emb] = {"class": "eval", "from": look, "eval": _scale(d)}
    else:
        unit[emb] = gather
    if "initial_output" in old_emb:
        unit[emb]["initial_output"] = old_emb["initial_output"]
    sdesc = unit[score]
    proj = _fresh(unit, f"{score}_proj")
    unit[proj] = {"class": "linear", "activation": None, "with_bias": False, "from": sdesc["from"], "n_out": d}
    logits = _fresh(unit, f"{score}_logits")
    unit[logits] = {"class": "dot", "from": [proj, table_ref], "red1": "F", "red2": "F", "var1": "auto",
                    "var2": "auto"}
    log_space = rng.random() < 0.35
    act = "log_softmax" if log_space else "softmax"
    kept = {k: sdesc[k] for k in ("is_output_layer",) if k in sdesc}  # the training loss is left out
    unit[score] = {"class": "activation", "activation": act, "from": logits, **kept}
    if log_space:
        unit[choice]["input_type"] = "log_prob"
    else:
        unit[choice].pop("input_type", None)
    how = "scaled gather" if scaled else "gather"
    return new, (f"{rec}: {where} variable {table} [{vocab}, {d}] tied: {rec}/{emb} a {how} of it at "
                 f"{label}; {rec}/{score} the {act} of {rec}/{logits}, a dot of {rec}/{proj} with it")


def op_embed_scale_pos(case: Case, rng: random.Random) -> Result:
    """The label embedding's readers read it scaled by sqrt(d) plus an absolute position encoding."""
    new, net = _copy(case)
    sites = _embedding_sites(net)
    if not sites:
        return None
    rec, _choice, emb, current = rng.choice(sites)
    unit = net[rec]["unit"]
    d = unit[emb]["n_out"]
    chain: list[str] = []

    def add(base: str, desc: dict[str, Any]) -> str:
        name = _fresh(unit, base)
        unit[name] = desc
        chain.append(name)
        return name

    scaled = add(f"{emb}_scaled", {"class": "eval", "from": emb, "eval": _scale(d)})
    kind = rng.choice(["sinusoid", "sinusoid", "sinusoid-step", "learned", "learned-offset"])
    if kind == "sinusoid":
        top = add(f"{emb}_pos", {"class": "positional_encoding", "from": scaled, "add_to_input": True})
        how = "positional_encoding added to the input"
    elif kind == "sinusoid-step":
        enc = add(f"{emb}_pos_enc", {"class": "positional_encoding", "from": scaled, "n_out": d})
        top = add(f"{emb}_pos", {"class": "combine", "kind": "add", "from": [scaled, enc]})
        how = f"plus {rec}/{enc}, a positional_encoding of the frame (not added to its input)"
    else:
        max_len = rng.choice([256, 512, 1024])
        table_desc: dict[str, Any] = {"class": "variable", "shape": [max_len, d], "init": "glorot_uniform"}
        table, table_ref, where = _add_root_or_loop(net, unit, f"{emb}_pos_table", table_desc,
                                                    rng.random() < 0.5)
        if where == "loop":
            chain.append(table)
        if kind == "learned":
            pos = ":i"
        else:  # fairseq's learned positions start after the padding index
            pos = add(f"{emb}_step", {"class": "eval", "from": ":i", "eval": "source(0) + 2"})
        look = add(f"{emb}_pos_lookup", {"class": "gather", "from": table_ref, "position": pos,
                                         "axis": "static:0"})
        top = add(f"{emb}_pos", {"class": "combine", "kind": "add", "from": [scaled, look]})
        how = f"plus a gather of {where} variable {table} [{max_len}, {d}] at {pos}"
    if rng.random() < 0.3:
        top = add(f"{emb}_pos_drop", {"class": "dropout", "from": top, "dropout": 0.1})
        how += ", dropout"
    readers = _read_instead(unit, emb, current, top, set(chain))
    prev = "prev:" if current else ""
    return new, (f"{rec}: {', '.join(readers)} read {prev}{top}: {prev}{emb} scaled by sqrt({d}) ({scaled}), "
                 f"{how}")


def op_rel_pos_self_att(case: Case, rng: random.Random) -> Result:
    """A relative positional encoding as the key shift of a left-only self-attention in the loop."""
    new, net = _copy(case)
    existing = [(rec, k) for rec in _searching_recs(net) for k in _layers(net[rec]["unit"])
                if net[rec]["unit"][k].get("class") == "self_attention" and not net[rec]["unit"][k].get("key_shift")
                and isinstance(net[rec]["unit"][k].get("total_key_dim"), int)
                and isinstance(net[rec]["unit"][k].get("num_heads"), int)]
    embs = _embedding_sites(net)
    if not existing and not embs:
        return None
    clipping = rng.choice([8, 16, 16, 64])
    fixed = rng.random() < 0.3
    if existing and (not embs or rng.random() < 0.5):
        rec, att = rng.choice(existing)
        unit = net[rec]["unit"]
        desc = unit[att]
        key = desc["total_key_dim"] // desc["num_heads"]
        rel = _fresh(unit, f"{att}_rel_pos")
        unit[rel] = {"class": "relative_positional_encoding", "from": desc["from"], "n_out": key,
                     "clipping": clipping}
        if fixed:
            unit[rel]["fixed"] = True
        desc["key_shift"] = rel
        return new, f"{rec}/{att} gets key_shift {rec}/{rel} (relative positions, clipping {clipping})"
    rec, _choice, emb, current = rng.choice(embs)
    unit = net[rec]["unit"]
    d = unit[emb]["n_out"]
    heads = rng.choice([h for h in (1, 2, 4) if d % h == 0 and (d // h) % 2 == 0] or [1])
    chain: list[str] = []

    def add(base: str, desc: dict[str, Any]) -> str:
        name = _fresh(unit, base)
        unit[name] = desc
        chain.append(name)
        return name

    inp = emb
    if rng.random() < 0.6:
        inp = add(f"{emb}_self_att_ln", {"class": "layer_norm", "from": emb})
    rel = add(f"{emb}_rel_pos", {"class": "relative_positional_encoding", "from": inp, "n_out": d // heads,
                                 "clipping": clipping})
    if fixed:
        unit[rel]["fixed"] = True
    att = add(f"{emb}_self_att", {"class": "self_attention", "from": inp, "num_heads": heads,
                                  "total_key_dim": d, "n_out": d, "attention_left_only": True,
                                  "key_shift": rel})
    res = add(f"{emb}_self_att_res", {"class": "combine", "kind": "add", "from": [emb, att]})
    readers = _read_instead(unit, emb, current, res, set(chain))
    prev = "prev:" if current else ""
    return new, (f"{rec}: {', '.join(readers)} read {prev}{res}: {emb} plus a left-only self_attention {att} "
                 f"({heads} heads) with key_shift {rel} (clipping {clipping})")


def op_shared_repeat(case: Case, rng: random.Random) -> Result:
    """A transformer decoder block repeated with shared parameters over the label embedding."""
    new, net = _copy(case)
    sites = _embedding_sites(net)
    if not sites:
        return None
    rec, _choice, emb, current = rng.choice(sites)
    unit = net[rec]["unit"]
    d = unit[emb]["n_out"]
    heads = rng.choice([h for h in (1, 2, 4) if d % h == 0] or [1])
    ff = d * rng.choice([2, 4])
    repeats = rng.choice([2, 2, 3])
    style = rng.choice(["string", "reuse_layer", "map"])
    params = {"self_att": ["QKV"], "ff1": ["W", "b"], "ff2": ["W", "b"], "att_ln": ["scale", "bias"],
              "ff_ln": ["scale", "bias"]}
    chain: list[str] = []
    first: dict[str, str] = {}
    cur = emb
    for i in range(repeats):
        def add(part: str, desc: dict[str, Any], i: int = i) -> str:
            name = _fresh(unit, f"{emb}_rep{i}_{part}")
            if i == 0:
                first[part] = name
            else:
                src = first[part]
                if style == "string":
                    desc["reuse_params"] = src
                elif style == "reuse_layer":
                    desc["reuse_params"] = {"reuse_layer": src}
                else:
                    desc["reuse_params"] = {"map": {p: {"reuse_layer": src} for p in params[part]}}
            unit[name] = desc
            chain.append(name)
            return name

        ln = add("att_ln", {"class": "layer_norm", "from": cur})
        att = add("self_att", {"class": "self_attention", "from": ln, "num_heads": heads, "total_key_dim": d,
                               "n_out": d, "attention_left_only": True})
        res = _fresh(unit, f"{emb}_rep{i}_att_res")
        unit[res] = {"class": "combine", "kind": "add", "from": [cur, att]}
        chain.append(res)
        ln2 = add("ff_ln", {"class": "layer_norm", "from": res})
        ff1 = add("ff1", {"class": "linear", "activation": "relu", "from": ln2, "n_out": ff})
        ff2 = add("ff2", {"class": "linear", "activation": None, "from": ff1, "n_out": d})
        cur = _fresh(unit, f"{emb}_rep{i}_out")
        unit[cur] = {"class": "combine", "kind": "add", "from": [res, ff2]}
        chain.append(cur)
    readers = _read_instead(unit, emb, current, cur, set(chain))
    prev = "prev:" if current else ""
    return new, (f"{rec}: {', '.join(readers)} read {prev}{cur}: a block over {emb} repeated {repeats} times "
                 f"({heads} heads, ff {ff}), repeats 2+ sharing the first's parameters ({style})")


FRESH54_OPERATORS: tuple[Op, ...] = (
    Op("tied-lookup", op_tied_lookup, 1),
    Op("embed-scale-pos", op_embed_scale_pos, 1),
    Op("rel-pos-self-att", op_rel_pos_self_att, 1),
    Op("shared-repeat", op_shared_repeat, 1),
)
