"""A forty-sixth set of edit operators (issue 15, eleventh session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Decoders with two choices per frame, as in hard-attention and segmental models: a position (or segment
boundary) choice and a label choice chained in one frame, one chosen from the other, each with a beam size
of its own, states carried for each, readouts over the previous frames of both, end conditions on either
choice and either choice's values exported after the loop (none a variant of an earlier operator; no rule
was written for any of them):

* ``position-choice``: a hard attention is added to a searching decoder loop with a label choice: additive
  energies of a root key projection of an encoder layer (``base:``) and a query (a dense loop state, its
  previous frame, or with the label's embedding of this frame), ``squeeze``-d, ``softmax_over_spatial``
  over the encoder frames (maybe ``start`` at ``prev:`` of the position, maybe ``log_space``) and made the
  feature axis (``reinterpret_data`` with ``set_axes`` ``{"f": "T"}``); a ``choice`` over it with
  ``target: None``, ``search: True``, its own beam size (maybe ``keep_beams``, ``length_normalization``
  False or left on, ``input_type`` ``prob`` / ``log_prob``) picks an encoder frame (``gather`` on ``T``,
  maybe ``clip_to_valid``); either the label's scores read the picked frame (the label chosen from the
  position) or the position is chosen from the label (the query reads the label's embedding) and the next
  frame's label scores read ``prev:`` of the picked frame; maybe the position is an output of the loop,
  maybe the loop also (or only) ends when the last encoder frame is picked;
* ``jump-choice``: a segmental decoder: a ``choice`` (``target: None``, ``search: True``, own beam size)
  over a ``linear`` softmax of two to four jump sizes (a segment boundary when two) from a dense loop state
  (its previous frame, or with the label's embedding of this frame), the jump made dense
  (``reinterpret_data`` ``set_sparse: False``) and summed into an encoder position (``combine`` add with
  ``prev:`` of itself, ``initial_output`` 0), clipped to the encoder's last frame (an ``eval`` of its
  ``length`` minus one at the root, ``tf.minimum`` in the loop), and the
  encoder frame there (``gather``) read by the label's scores (this frame, or ``prev:`` of it when the jump
  is chosen from the label); the loop's ``end`` stays, also ends once the position reaches the last frame
  (``logical_or``), or ends only then;
* ``choice-states``: in a loop with two choices (a second one added as in ``jump-choice`` where there is
  one), each choice gets a recurrent state of its own (``rnn_cell`` ``LSTMBlock`` / ``GRU`` or ``rec``
  ``nativelstm2`` / ``lstm``) over an embedding of its previous value (``linear`` over ``prev:`` of the
  choice, or ``prev:`` of a dense layer that depends on it where its vocabulary is the encoder's frames),
  for one of the two or both, and a readout ``linear`` over the states (in either order) or over the
  previous embeddings of both is read by the scores of the label choice, of the other one, or of both;
* ``flip-chain``: the order of the two choices of a frame is reversed: the layers of the later choice's
  scores that read the earlier choice itself in the frame (``from``, ``position``, ``start``, ...) read its
  ``prev:`` instead, and a layer of the earlier choice's scores reads an embedding of the later choice (a
  ``linear`` over it, or a dense layer depending on it where its vocabulary is the encoder's frames); two
  independent choices get chained (one's scores read the other's embedding); a loop with one choice gets a
  second one first (as in ``jump-choice``);
* ``export-choice``: either choice's values leave the loop (a second one added first where there is one):
  the choice marked ``is_output_layer`` (or, as a user forgets, not), or copied into an output layer of the
  loop (``initial_output`` of the choice), and read at the root by its path (``REC/X``): a ``decide`` output
  layer, a ``copy`` output layer (still beamed), or a ``length`` of the decided values (an output); the
  other choice may be exported too.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _add_source,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _head,
    _layers,
    _map_refs,
    _refs,
    _searching_recs,
    _sources,
    _sparse_keys,
    _target_dim,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH44_SEED = 20270106
N_FRESH44 = 80

Result = "tuple[Case, str] | None"

#: beam sizes of an added choice
_BEAMS = (1, 2, 3, 4, 6, 8, 12, 24)
#: loop layer classes with one dense feature vector per hypothesis a user reads as a state
_STATE = ("linear", "rnn_cell", "rec", "reduce_out", "combine", "activation")
#: loop layer classes a user gives an extra source
_FEED = ("linear", "softmax", "rnn_cell", "rec")
#: root classes that are not an encoder sequence
_NOT_ENC = ("length", "reduce", "decide", "decide_keep_beam", "constant", "variable", "choice", "rec",
            "range_in_axis", "squeeze", "get_last_hidden_state", "gather", "split_dims")


# ----------------------------------------------------------------------------------------------------
# Reading the loop


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels of a target (not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and isinstance(unit[c].get("target"), str) and unit[c].get("search", True) is not False]


def _timed(net: dict[str, Any], unit: dict[str, Any]) -> set[str]:
    """Loop layers over the encoder's time axis: those reading a root sequence (``base:``) but for a
    ``gather`` / attention context of it, and what follows them until a reduction."""
    keep_t = ("gather", "gather_nd", "generic_attention", "dot_attention", "reduce", "choice", "length")

    def seq(ref: str) -> bool:
        if not ref.startswith("base:"):
            return False
        name = ref[len("base:"):]
        if name == "data" or name.startswith("data:"):
            return True
        head = name.split("/", 1)[0]
        return head in net and isinstance(net[head], dict) and net[head].get("class") not in _NOT_ENC

    out = {k for k in _layers(unit) if unit[k].get("class") not in keep_t
           and any(seq(r) for r in _sources(unit[k]))}
    changed = True
    while changed:
        changed = False
        for k in _layers(unit):
            if k in out or unit[k].get("class") in keep_t:
                continue
            if any(_head(r.removeprefix("prev:")) in out for r in _sources(unit[k])):
                out.add(k)
                changed = True
    return out


def _states(net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers the choice's scores depend on in the frame (one vector per hypothesis)."""
    timed = _timed(net, unit)
    return [k for k in sorted(_frame_ancestors(unit, choice)) if unit[k].get("class") in _STATE
            and k not in timed and k != "end" and "reuse_params" not in unit[k]
            and isinstance(unit[k].get("n_out"), int)]


def _sparse(case: Case, unit: dict[str, Any], ref: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a loop reference holds labels (a choice, a copy of one, sparse data): a ``linear`` over it
    cannot take a dense source next to it."""
    name = ref.removeprefix("prev:")
    if name.startswith("base:"):
        name = name[len("base:"):]
        if name.startswith("data:"):
            return name[len("data:"):] in _sparse_keys(case)
        return name == "data" and "data" in _sparse_keys(case)
    if name.startswith("data:"):
        return name[len("data:"):] in _sparse_keys(case)
    if name == "data":
        return "data" in _sparse_keys(case)
    desc = unit.get(name)
    if not isinstance(desc, dict) or name in seen:
        return False
    if desc.get("class") == "choice":
        return desc.get("input_type") != "regression"
    if desc.get("class") in ("copy", "reinterpret_data", "select_search_sources", "decide") \
            and desc.get("set_sparse") is not False:
        return any(_sparse(case, unit, r, seen | {name}) for r in _sources(desc))
    return False


def _feeders(case: Case, net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Layers of the choice's scores (the scores layer and its dense frame ancestors) that take an extra
    source."""
    timed = _timed(net, unit)
    out = []
    for k in sorted(_frame_ancestors(unit, choice)):
        desc = unit[k]
        if desc.get("class") not in _FEED or k in timed or "reuse_params" in desc:
            continue
        if desc.get("class") == "rec" and not isinstance(desc.get("unit"), str):
            continue
        if not _sources(desc) or any(_sparse(case, unit, r) for r in _sources(desc)):
            continue
        out.append(k)
    return out


def _depends(unit: dict[str, Any], name: str, on: str) -> bool:
    return on == name or on in _frame_ancestors(unit, name)


def _encoder(case: Case, net: dict[str, Any], rec: str) -> str | None:
    """A root sequence the loop reads through ``base:`` (the ``base`` of an attention first), else ``data``."""
    unit = net[rec]["unit"]
    beamed = _beamed_roots(net)
    att_bases, read = [], []
    for k in _layers(unit):
        desc = unit[k]
        for key in ("base", "base_ctx"):
            ref = desc.get(key)
            if isinstance(ref, str) and ref.startswith("base:"):
                att_bases.append(ref[len("base:"):])
        for ref in _refs(desc):
            if ref.startswith("base:") and not ref.startswith("base:data"):
                read.append(ref[len("base:"):])

    def ok(name: str) -> bool:
        return (name in net and isinstance(net[name], dict) and net[name].get("class") not in _NOT_ENC
                and name not in beamed and name != rec)

    for pool in (sorted(set(att_bases)), sorted(set(read))):
        good = [n for n in pool if ok(n)]
        if good:
            return good[0]
    ext = case.get("extern_data") or {}
    if "data" in ext or "data" in (case.get("num_outputs") or {}):
        return "data"
    return None


def _choice_static(case: Case, unit: dict[str, Any], choice: str) -> bool:
    """Whether a choice's labels have a known vocabulary size (so ``linear`` can embed them)."""
    desc = unit[choice]
    if isinstance(desc.get("target"), str):
        return bool(_target_dim(case, desc["target"]))
    srcs = _sources(desc)
    return bool(srcs) and srcs[0] in unit and isinstance(unit[srcs[0]].get("n_out"), int) \
        and unit[srcs[0]].get("class") in ("linear", "softmax")


def _dependent_dense(net: dict[str, Any], unit: dict[str, Any], choice: str) -> list[str]:
    """Dense loop layers that depend on the choice in the frame (not over the encoder's frames)."""
    timed = _timed(net, unit)
    return [k for k in _layers(unit) if k != choice and choice in _frame_ancestors(unit, k)
            and unit[k].get("class") in ("linear", "gather", "gather_nd", "generic_attention", "activation")
            and k not in timed and k != "end"]


def _new_beam(unit: dict[str, Any], label: str, rng: random.Random) -> int:
    old = unit[label].get("beam_size")
    return rng.choice([k for k in _BEAMS if k != old])


def _second_options(desc: dict[str, Any], unit: dict[str, Any], label: str, rng: random.Random) -> str:
    """Search options of an added second choice (length normalisation, keep_beams); their description."""
    notes = []
    if rng.random() < 0.7:
        desc["length_normalization"] = False
        notes.append("no length normalization")
    if rng.random() < 0.25:
        desc["keep_beams"] = True
        label_beam = unit[label].get("beam_size")
        if isinstance(label_beam, int) and rng.random() < 0.6:
            desc["beam_size"] = label_beam * rng.choice([1, 2, 4])
        notes.append("keep_beams")
    return ", ".join([f"beam {desc['beam_size']}"] + notes)


# ----------------------------------------------------------------------------------------------------
# Adding a second choice


def _pick_feed_and_query(case: Case, net: dict[str, Any], unit: dict[str, Any], label: str, rng: random.Random,
                         first: bool) -> tuple[str, list[str]] | None:
    """A layer of the label's scores to feed and the query sources of the new choice's scores.

    ``first``: the new choice is made before the label (the feeder reads its frame value), so the query
    must not depend on the feeder in the frame; otherwise the query reads this frame's label embedding."""
    feeders = [f for f in _feeders(case, net, unit, label) if unit[f].get("class") in _FEED]
    if not feeders:
        return None
    feed = rng.choice(feeders)
    states = _states(net, unit, label)
    if first:
        cands = [s for s in states if not _depends(unit, s, feed)]
        opts = [f"prev:{s}" for s in states] + cands
        query = [rng.choice(opts)] if opts else []
    else:
        query = [rng.choice(states)] if states and rng.random() < 0.6 else []
        query = [f"prev:{q}" for q in query] if query and rng.random() < 0.5 else query
    return feed, query


def _label_embedding(unit: dict[str, Any], label: str, rng: random.Random) -> str:
    """A ``linear`` over this frame's label (an existing one, or a new one)."""
    embs = [k for k in _layers(unit) if unit[k].get("class") == "linear" and _sources(unit[k]) == [label]
            and "reuse_params" not in unit[k]]
    if embs and rng.random() < 0.7:
        return embs[0]
    emb = _fresh(unit, f"{label}_embed")
    unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": label,
                 "n_out": rng.choice([4, 8])}
    return emb


def _enc_value(net: dict[str, Any], enc: str, rng: random.Random) -> str:
    """The root layer to gather encoder frames from (a projection of the input data where the loop reads
    no root sequence)."""
    if enc in net:
        return enc
    value = _fresh(net, "hard_att_value")
    net[value] = {"class": "linear", "activation": "tanh", "from": enc, "n_out": rng.choice([4, 8])}
    return value


def _enc_last(net: dict[str, Any], value: str) -> tuple[str, str]:
    """(root ``length`` layer of an encoder, root layer of its last frame index), added where missing."""
    lens = [k for k in _layers(net) if net[k].get("class") == "length" and _sources(net[k]) == [value]
            and net[k].get("axis", "T") == "T"]
    length = lens[0] if lens else _fresh(net, f"{value}_len")
    if not lens:
        net[length] = {"class": "length", "from": value}
    last = _fresh(net, f"{length}_last")
    net[last] = {"class": "eval", "from": length, "eval": "source(0) - 1"}
    return length, last


def _add_position(case: Case, net: dict[str, Any], rec: str, label: str, rng: random.Random,
                  first: bool | None = None) -> tuple[str, str, str] | None:
    """Add a hard-attention position choice to the loop: (choice name, picked frame layer, description)."""
    unit = net[rec]["unit"]
    enc = _encoder(case, net, rec)
    if enc is None:
        return None
    first = rng.random() < 0.5 if first is None else first
    picked = _pick_feed_and_query(case, net, unit, label, rng, first)
    if picked is None:
        return None
    feed, query = picked
    if not first:
        query = [*query, _label_embedding(unit, label, rng)]
        rng.shuffle(query)
    if not query:
        query = [f"prev:{label}"]
    value = _enc_value(net, enc, rng)
    dim = rng.choice([4, 8])
    key = _fresh(net, "hard_att_key")
    net[key] = {"class": "linear", "activation": None, "with_bias": False, "from": value, "n_out": dim}
    pos = _fresh(unit, "t")
    q = _fresh(unit, f"{pos}_query")
    unit[q] = {"class": "linear", "activation": None, "with_bias": False, "from": query, "n_out": dim}
    e_in = _fresh(unit, f"{pos}_energy_in")
    unit[e_in] = {"class": "combine", "kind": "add", "from": [f"base:{key}", q]}
    e_tanh = _fresh(unit, f"{pos}_energy_tanh")
    unit[e_tanh] = {"class": "activation", "activation": "tanh", "from": e_in}
    energy = _fresh(unit, f"{pos}_energy")
    unit[energy] = {"class": "linear", "activation": None, "with_bias": False, "from": e_tanh, "n_out": 1}
    e_sq = _fresh(unit, f"{pos}_energy1")
    unit[e_sq] = {"class": "squeeze", "axis": "f", "from": energy}
    weights = _fresh(unit, f"{pos}_weights")
    unit[weights] = {"class": "softmax_over_spatial", "from": e_sq}
    notes = []
    if rng.random() < 0.35:
        unit[weights]["start"] = f"prev:{pos}"
        notes.append("monotonic start")
    input_type = rng.choice(["prob", "prob", "log_prob"])
    if input_type == "log_prob":
        unit[weights]["log_space"] = True
    w_f = _fresh(unit, f"{pos}_weights1")
    unit[w_f] = {"class": "reinterpret_data", "from": weights, "set_axes": {"f": "T"}}
    unit[pos] = {"class": "choice", "from": w_f, "target": None, "search": True,
                 "beam_size": _new_beam(unit, label, rng), "initial_output": 0}
    if input_type != "prob" or rng.random() < 0.3:
        unit[pos]["input_type"] = input_type
    notes.insert(0, _second_options(unit[pos], unit, label, rng) + f", input_type {input_type}")
    frame = _fresh(unit, f"{pos}_frame")
    unit[frame] = {"class": "gather", "from": f"base:{value}", "position": pos, "axis": "T"}
    if rng.random() < 0.3:
        unit[frame]["clip_to_valid"] = True
    if first:
        _add_source(unit[feed], frame)
        how = f"{rec}/{feed} reads {frame} (the label chosen from the position)"
    else:
        _add_source(unit[feed], f"prev:{frame}")
        how = f"{rec}/{feed} reads prev:{frame} (the position chosen from the label)"
    if rng.random() < 0.3:
        unit[pos]["is_output_layer"] = True
        notes.append("an output")
    end = ""
    if "end" in unit and rng.random() < 0.3:
        _, last = _enc_last(net, value)
        at_end = _fresh(unit, f"{pos}_at_end")
        unit[at_end] = {"class": "compare", "kind": "greater_equal", "from": [pos, f"base:{last}"]}
        if rng.random() < 0.6:
            old = _fresh(unit, "end_label")
            unit[old] = unit.pop("end")
            _map_refs_all(unit, "end", old, keep_prev=True)
            unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, at_end]}
            end = f"; end also when {pos} picks the last frame"
        else:
            unit["end"] = {"class": "copy", "from": at_end}
            end = f"; end only when {pos} picks the last frame"
    desc = (f"{rec}/{pos}: a position choice ({', '.join(notes)}) over {weights} (energies of "
            f"{key} over {enc} and {q} of {query}); {how}{end}")
    return pos, frame, desc


def _map_refs_all(unit: dict[str, Any], old: str, new: str, keep_prev: bool = False) -> None:
    """Rename plain references to ``old`` in the unit (``prev:`` ones too unless ``keep_prev``)."""
    def fn(ref: str) -> str:
        if ref == old:
            return new
        if not keep_prev and ref == f"prev:{old}":
            return f"prev:{new}"
        return ref

    for k in _layers(unit):
        _map_refs(unit[k], fn)


def _add_jump(case: Case, net: dict[str, Any], rec: str, label: str, rng: random.Random,
              first: bool | None = None) -> tuple[str, str, str] | None:
    """Add a segment jump choice that moves an encoder position: (choice name, frame layer, description)."""
    unit = net[rec]["unit"]
    enc = _encoder(case, net, rec)
    if enc is None:
        return None
    first = rng.random() < 0.5 if first is None else first
    picked = _pick_feed_and_query(case, net, unit, label, rng, first)
    if picked is None:
        return None
    feed, query = picked
    if not first:
        query = [*query, _label_embedding(unit, label, rng)]
        rng.shuffle(query)
    if not query:
        query = [f"prev:{label}"]
    value = _enc_value(net, enc, rng)
    length, last = _enc_last(net, value)
    k = rng.choice([2, 3, 4])
    jump = _fresh(unit, "seg_jump" if k > 2 else "seg_boundary")
    prob = _fresh(unit, f"{jump}_prob")
    unit[prob] = {"class": "linear", "activation": "softmax", "from": query if len(query) > 1 else query[0],
                  "n_out": k}
    unit[jump] = {"class": "choice", "from": prob, "target": None, "search": True,
                  "beam_size": _new_beam(unit, label, rng), "initial_output": 0}
    if rng.random() < 0.3:
        unit[prob]["activation"] = "log_softmax"
        unit[jump]["input_type"] = "log_prob"
    note = _second_options(unit[jump], unit, label, rng)
    dense = _fresh(unit, f"{jump}_int")
    unit[dense] = {"class": "reinterpret_data", "from": jump, "set_sparse": False}
    pos = _fresh(unit, "seg_pos")
    unit[pos] = {"class": "combine", "kind": "add", "from": [f"prev:{pos}", dense], "initial_output": 0}
    clip = _fresh(unit, f"{pos}_clipped")
    unit[clip] = {"class": "eval", "from": [pos, f"base:{last}"], "eval": "tf.minimum(source(0), source(1))"}
    frame = _fresh(unit, f"{pos}_frame")
    unit[frame] = {"class": "gather", "from": f"base:{value}", "position": clip, "axis": "T"}
    if first:
        _add_source(unit[feed], frame)
        how = f"{rec}/{feed} reads {frame} (the label chosen from the jump)"
    else:
        _add_source(unit[feed], f"prev:{frame}")
        how = f"{rec}/{feed} reads prev:{frame} (the jump chosen from the label)"
    end = ""
    if "end" in unit and rng.random() < 0.45:
        at_end = _fresh(unit, f"{pos}_at_end")
        unit[at_end] = {"class": "compare", "kind": "greater_equal", "from": [pos, f"base:{last}"]}
        if rng.random() < 0.6:
            old = _fresh(unit, "end_label")
            unit[old] = unit.pop("end")
            _map_refs_all(unit, "end", old, keep_prev=True)
            unit["end"] = {"class": "combine", "kind": "logical_or", "from": [old, at_end]}
            end = f"; end also when {pos} reaches the last frame"
        else:
            unit["end"] = {"class": "copy", "from": at_end}
            end = f"; end only when {pos} reaches the last frame"
    desc = (f"{rec}/{jump}: a {k}-way jump choice ({note}) over {prob} of {query}, summed into {pos} over "
            f"{enc} (clipped to {length}); {how}{end}")
    return jump, frame, desc


def _two_choices(case: Case, net: dict[str, Any], rng: random.Random) -> tuple[str, str, str, str] | None:
    """A searching loop with a label choice and a second choice: (rec, label, other, what was added).
    Loops with two choices are taken as they are; else a jump (or position) choice is added."""
    pairs = []
    singles = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        labels = _label_choices(unit)
        choices = [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
                   and unit[c].get("search", True) is not False]
        for lab in labels:
            others = [c for c in choices if c != lab]
            pairs += [(rec, lab, o) for o in others]
            if not others:
                singles.append((rec, lab))
    if pairs and (not singles or rng.random() < 0.7):
        rec, lab, other = rng.choice(pairs)
        return rec, lab, other, ""
    if not singles:
        return None
    rec, lab = rng.choice(singles)
    add = _add_jump if rng.random() < 0.6 else _add_position
    res = add(case, net, rec, lab, rng)
    if res is None:
        return None
    other, _, desc = res
    return rec, lab, other, desc


def _choice_embed(case: Case, net: dict[str, Any], unit: dict[str, Any], choice: str, rng: random.Random,
                  prev: bool) -> str | None:
    """An embedding of a choice's value (``prev:`` of it with ``prev``): a ``linear`` over it where its
    vocabulary is known, else (``prev:`` of) a dense layer depending on it."""
    ref = f"prev:{choice}" if prev else choice
    if _choice_static(case, unit, choice):
        emb = _fresh(unit, f"{choice}_{'prev_' if prev else ''}embed")
        unit[emb] = {"class": "linear", "activation": None, "with_bias": False, "from": ref,
                     "n_out": rng.choice([4, 8])}
        return emb
    deps = _dependent_dense(net, unit, choice)
    if not deps:
        return None
    dep = rng.choice(deps)
    return f"prev:{dep}" if prev else dep


# ----------------------------------------------------------------------------------------------------
# Operators


def op_position_choice(case: Case, rng: random.Random) -> Result:
    """A hard-attention position choice chained with the label choice."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, label = rng.choice(sites)
    res = _add_position(case, net, rec, label, rng)
    if res is None:
        return None
    return new, res[2]


def op_jump_choice(case: Case, rng: random.Random) -> Result:
    """A segment jump choice moving an encoder position, chained with the label choice."""
    new, net = _copy(case)
    sites = [(r, c) for r in _searching_recs(net) for c in _label_choices(net[r]["unit"])]
    if not sites:
        return None
    rec, label = rng.choice(sites)
    res = _add_jump(case, net, rec, label, rng)
    if res is None:
        return None
    return new, res[2]


def op_choice_states(case: Case, rng: random.Random) -> Result:
    """A recurrent state per choice over its previous value, and a readout over both fed to the scores."""
    new, net = _copy(case)
    got = _two_choices(case, net, rng)
    if got is None:
        return None
    rec, label, other, added = got
    unit = net[rec]["unit"]
    which = rng.choice(["other", "label", "both"])
    states = {}
    for c in ([other] if which == "other" else [label] if which == "label" else [other, label]):
        emb = _choice_embed(case, net, unit, c, rng, prev=True)
        if emb is None:
            return None
        cell_kind = rng.choice(["LSTMBlock", "GRU", "nativelstm2", "lstm"])
        st = _fresh(unit, f"{c}_state")
        n = rng.choice([4, 8])
        if cell_kind in ("LSTMBlock", "GRU"):
            unit[st] = {"class": "rnn_cell", "unit": cell_kind, "from": emb, "n_out": n}
        else:
            unit[st] = {"class": "rec", "unit": cell_kind, "from": emb, "n_out": n}
        states[c] = (st, emb, cell_kind)
    if len(states) == 1 and rng.random() < 0.5:
        # the readout over the previous embeddings of both choices plus the one state
        c2 = label if other in states else other
        emb2 = _choice_embed(case, net, unit, c2, rng, prev=True)
        if emb2 is None:
            return None
        parts = [next(iter(states.values()))[0], emb2]
    else:
        parts = [s for s, _, _ in states.values()]
    rng.shuffle(parts)
    readout = _fresh(unit, "two_choice_readout")
    unit[readout] = {"class": "linear", "activation": rng.choice(["tanh", None]), "from": parts,
                     "n_out": rng.choice([4, 8])}
    targets = rng.choice([[label], [other], [label, other]])
    fed = []
    for c in targets:
        feeders = [f for f in _feeders(case, net, unit, c) if f != readout and f not in parts
                   and f not in {s for s, _, _ in states.values()}
                   and not _depends(unit, readout, f)]
        if not feeders or set(feeders) <= set(fed):
            continue
        f = rng.choice([f for f in feeders if f not in fed])
        _add_source(unit[f], readout)
        fed.append(f)
    if not fed:
        return None
    desc = (f"{rec}: states " + ", ".join(f"{s} ({k} over {e})" for s, e, k in states.values())
            + f" for the choices {label} / {other}; {readout} over {parts} read by {', '.join(fed)}")
    return new, (f"{added}; then {desc}" if added else desc)


def op_flip_chain(case: Case, rng: random.Random) -> Result:
    """The order of a frame's two choices reversed (or two independent choices chained)."""
    new, net = _copy(case)
    got = _two_choices(case, net, rng)
    if got is None:
        return None
    rec, label, other, added = got
    unit = net[rec]["unit"]
    if _depends(unit, other, label):
        early, late = label, other
    elif _depends(unit, label, other):
        early, late = other, label
    else:
        early, late = (label, other) if rng.random() < 0.5 else (other, label)
        emb = _choice_embed(case, net, unit, early, rng, prev=False)
        if emb is None:
            return None
        feeders = [f for f in _feeders(case, net, unit, late) if not _depends(unit, emb, f)
                   and not _depends(unit, early, f)]
        if not feeders:
            return None
        f = rng.choice(feeders)
        _add_source(unit[f], emb)
        desc = f"{rec}: {late} chosen from {early} ({f} reads {emb})"
        return new, (f"{added}; then {desc}" if added else desc)
    # the layers of the late choice's scores that read the early choice in the frame read prev: of it
    chain = {late} | _frame_ancestors(unit, late)
    cut = []
    for k in sorted(chain):
        if k == early:
            continue
        for key in ("from", "position", "start", "window_start", "condition"):
            value = unit[k].get(key)
            if value == early:
                unit[k][key] = f"prev:{early}"
                cut.append(f"{k}.{key}")
            elif isinstance(value, list) and early in value:
                unit[k][key] = [f"prev:{early}" if v == early else v for v in value]
                cut.append(f"{k}.{key}")
    if not cut or _depends(unit, late, early):
        return None
    emb = _choice_embed(case, net, unit, late, rng, prev=False)
    if emb is None:
        return None
    feeders = [f for f in _feeders(case, net, unit, early) if not _depends(unit, emb, f)
               and not _depends(unit, late, f)]
    if not feeders:
        return None
    f = rng.choice(feeders)
    _add_source(unit[f], emb)
    desc = (f"{rec}: {early} now chosen from {late} ({f} reads {emb}); {', '.join(cut)} read "
            f"prev:{early} instead of {early}")
    return new, (f"{added}; then {desc}" if added else desc)


def op_export_choice(case: Case, rng: random.Random) -> Result:
    """Either choice's values read at the root after the loop."""
    new, net = _copy(case)
    got = _two_choices(case, net, rng)
    if got is None:
        return None
    rec, label, other, added = got
    unit = net[rec]["unit"]
    picks = [other] if rng.random() < 0.7 or label == "output" else [label]
    if rng.random() < 0.2:
        picks = [other, label] if label != "output" else [other]
    descs = []
    for c in picks:
        src = c
        if rng.random() < 0.35:
            src = _fresh(unit, f"{c}_out")
            unit[src] = {"class": "copy", "from": c, "is_output_layer": True}
            if "initial_output" in unit[c]:
                unit[src]["initial_output"] = unit[c]["initial_output"]
            mark = f"copied to {src} (an output)"
        elif rng.random() < 0.75:
            unit[c]["is_output_layer"] = True
            mark = "marked an output"
        else:
            unit[c].pop("is_output_layer", None)
            mark = "not marked an output"
        mode = rng.choice(["decide", "decide", "copy", "length"])
        root = _fresh(net, f"{rec}_{c}_{mode}")
        if mode == "decide":
            net[root] = {"class": "decide", "from": f"{rec}/{src}", "is_output_layer": True}
        elif mode == "copy":
            net[root] = {"class": "copy", "from": f"{rec}/{src}", "is_output_layer": True}
        else:
            dec = _fresh(net, f"{rec}_{c}_decided")
            net[dec] = {"class": "decide", "from": f"{rec}/{src}"}
            net[root] = {"class": "length", "from": dec, "is_output_layer": True}
        descs.append(f"{rec}/{c} {mark}, read at the root by {root} ({mode} of {rec}/{src})")
    desc = "; ".join(descs)
    return new, (f"{added}; then {desc}" if added else desc)


FRESH44_OPERATORS: tuple[Op, ...] = (
    Op("position-choice", op_position_choice, 1),
    Op("jump-choice", op_jump_choice, 1),
    Op("choice-states", op_choice_states, 1),
    Op("flip-chain", op_flip_chain, 1),
    Op("export-choice", op_export_choice, 1),
)
