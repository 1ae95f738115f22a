"""A thirty-fourth set of edit operators (issue 15, tenth session), written and seeded before it was ever
run, by a helper that read no analysis code and no rule docs: held out, looked at as counts only when first
measured.

Debugging and bookkeeping layers a user inserts into a working decoder while investigating a search
problem, and then leaves in: on the path between a choice and the loop's state, between the encoder and the
decoder, between the decoder and its ``decide`` and after the ``decide`` (none a variant of an earlier
one; no rule was written for any of them):

* ``print-path``: a ``print`` layer (``summarize`` set or left at its default), or for float tensors a
  ``check_numerics`` ``eval`` (``tf.debugging.check_numerics``), is put on one edge: between a loop
  choice and the layers that read its labels in the frame, or ``prev:`` of them (the readers then read
  ``prev:`` of the print), between a choice and the scores it chooses from, between a root encoder layer
  and the decoder that reads it (``base:`` references and the rec layer's ``from``), between a searching
  decoder and its root readers (its ``decide`` included), or after a root ``decide`` (a new output layer
  when the ``decide`` has no readers);
* ``grad-scale``: a ``scaled_grad`` layer (``scale`` 0, i.e. ``tf.stop_gradient``; -1, a gradient
  reversal; or 0.1) is put between a dense loop layer and its readers in the frame, or between it and the
  readers of its previous frame (``prev:`` of the wrapper, with the layer's ``initial_output``), between a
  choice and its scores, or between a root encoder layer and the decoder;
* ``relabel``: the labels are read through a ``reinterpret_data`` with one of its flags
  (``increase_sparse_dim`` 1, ``set_sparse`` True, ``enforce_batch_major``, ``is_output_layer``): inside
  the loop by the readers of a choice (in the frame or ``prev:``), or at the root by the readers of a
  searching decoder or of its ``decide`` (a new output layer when there are none), there also with
  ``size_base`` the decoder (after the ``decide``) or the ``decide`` (before it);
* ``score-probe``: a probe of a choice's scores is kept as an extra output at one of three nesting levels:
  in the loop (a ``reduce`` max / argmax / logsumexp over the features, the log-scores as an ``eval`` of
  ``safe_log`` / ``log_softmax``, the argmax compared with the choice, or the score of the chosen label,
  a ``gather`` of the scores at the choice), in a ``subnetwork`` in the loop (log-scores and their max or
  argmax inside it, or, reading ``base:`` layers, the log-score of the chosen label), or at the root
  reading ``REC/SCORES`` (the loop layer marked ``is_output_layer``): a ``reduce`` over its features, its
  argmax compared with the decoder's ``decide``, or an ``hdf_dump`` of it (a file name under /tmp,
  written only when run);
* ``control-deps``: a layer is made to run after a debug layer: an ``identity`` with
  ``control_dependencies`` (no data dependency) or a ``copy`` with ``extra_deps`` (a dependency that the
  beam follows), put between a dense loop layer and its readers (depending on a ``print`` of the previous
  label, on ``prev:`` of the scores or on a layer of the frame that does not read it), between a dense
  loop layer and the readers of its previous frame (depending on this frame's label choice or a ``print``
  of it; the readers read ``prev:`` of the wrapper), between a root
  encoder layer and the decoder (depending on another root layer outside the search), between a searching
  decoder and its root readers (depending on an encoder layer), or after a ``decide`` (depending on the
  beamed decoder itself); a new output layer where nothing reads the place.
"""

from __future__ import annotations

import random
from typing import Any

from .mutations import (
    Case,
    Op,
    _beamed_roots,
    _copy,
    _frame_ancestors,
    _fresh,
    _interpose,
    _layers,
    _map_refs,
    _readers,
    _redirect,
    _root_ancestors,
    _searching_recs,
    _sources,
    _unit_choices,
)

#: Seed and size of the set (fixed with the operators, before it was ever run).
FRESH32_SEED = 20261225
N_FRESH32 = 80

Result = "tuple[Case, str] | None"
Site = tuple[Any, ...]

#: loop layer classes with float values that other loop layers read as a state
_DENSE = ("linear", "activation", "rnn_cell", "combine", "generic_attention", "dot_attention", "rec",
          "layer_norm", "self_attention", "softmax", "eval", "copy", "dropout", "concat")
#: root layer classes that (as good as always) give float values
_FLOAT = ("linear", "activation", "rec", "layer_norm", "self_attention", "softmax", "conv", "pool",
          "batch_norm", "combine", "dropout", "positional_encoding", "dot", "generic_attention", "rnn_cell")


# ----------------------------------------------------------------------------------------------------
# Sites


def _label_choices(unit: dict[str, Any]) -> list[str]:
    """Choices of a loop unit that choose labels (a target, not a regression)."""
    return [c for c in _unit_choices(unit) if unit[c].get("input_type") != "regression"
            and unit[c].get("target") is not None]


def _scores(unit: dict[str, Any], choice: str) -> str | None:
    """The loop layer a choice chooses from, when it has exactly one (in the frame)."""
    srcs = _sources(unit[choice])
    if len(srcs) == 1 and srcs[0] in unit and unit[srcs[0]].get("class") != "choice":
        return srcs[0]
    return None


def _dense_states(unit: dict[str, Any]) -> list[str]:
    """Float loop layers other loop layers read (in the frame or ``prev:``), no target of their own."""
    return [k for k in _layers(unit) if k != "end" and unit[k].get("class") in _DENSE
            and not unit[k].get("target") and (_readers(unit, k) or _readers(unit, k, f"prev:{k}"))]


def _enc_sites(net: dict[str, Any]) -> list[tuple[str, str]]:
    """(rec, X): a searching decoder reads root layer X (``base:X`` in its unit, or its ``from``), X not
    beamed."""
    beamed = _beamed_roots(net)
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        seen = set(_sources(net[rec]))
        for k in _layers(unit):
            seen |= {r[len("base:"):] for r in _opt_refs(unit[k]) if r.startswith("base:")}
        out += [(rec, x) for x in sorted(seen) if x in net and x not in beamed and x != rec
                and isinstance(net[x], dict)]
    return out


def _opt_refs(desc: dict[str, Any]) -> list[str]:
    """Every reference string of a layer dict (all reference options)."""
    seen: list[str] = []
    _map_refs(dict(desc), lambda r: seen.append(r) or r)
    return seen


def _decoder_sites(net: dict[str, Any], *, labels: bool = False) -> list[str]:
    """Searching decoders (with ``labels``: whose unit output is a label choice)."""
    out = []
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        if labels and "output" not in _label_choices(unit):
            continue
        out.append(rec)
    return out


def _decided_sites(net: dict[str, Any], *, labels: bool = False) -> list[tuple[str, str]]:
    """(decide layer, the searching decoder it decides) at the root."""
    recs = set(_decoder_sites(net, labels=labels))
    return [(k, _sources(net[k])[0]) for k in _layers(net) if net[k].get("class") == "decide"
            and len(_sources(net[k])) == 1 and _sources(net[k])[0] in recs]


def _enc_interpose(net: dict[str, Any], rec: str, x: str, name: str, desc: dict[str, Any]) -> str:
    """Add root layer ``desc`` and let the decoder ``rec`` read it where it read ``x``."""
    new = _fresh(net, name)
    net[new] = desc
    unit = net[rec]["unit"]
    for k in _layers(unit):
        _map_refs(unit[k], lambda r: f"base:{new}" if r == f"base:{x}" else r)
    _map_refs(net[rec], lambda r: new if r == x else r)
    return new


def _root_place(net: dict[str, Any], src: str, name: str, desc: dict[str, Any]) -> tuple[str, str]:
    """Put ``desc`` (reading ``src``) between root layer ``src`` and its readers, or add it as an output
    layer when nothing reads ``src``; (new name, what it does)."""
    readers = _readers(net, src)
    if readers:
        return _interpose(net, readers, src, name, desc), f"read by {', '.join(readers)}"
    new = _fresh(net, name)
    desc["is_output_layer"] = True
    net[new] = desc
    return new, "an output layer"


def _prev_interpose(unit: dict[str, Any], src: str, name: str, desc: dict[str, Any]) -> tuple[str, list[str]]:
    """Add loop layer ``desc`` (reading ``src`` in the frame) and let the readers of ``prev:src`` read
    ``prev:`` of it (with ``src``'s ``initial_output``)."""
    readers = _readers(unit, src, f"prev:{src}")
    new = _fresh(unit, name)
    if "initial_output" in unit[src]:
        desc["initial_output"] = unit[src]["initial_output"]
    unit[new] = desc
    _redirect(unit, readers, f"prev:{src}", f"prev:{new}")
    return new, readers


def _pick_kind(sites: dict[str, list[Site]], rng: random.Random,
               weights: dict[str, float] | None = None) -> tuple[str, Site] | None:
    """A kind of site (among those with sites, by ``weights``, default 1 each), then one of its sites."""
    kinds = [k for k in sorted(sites) if sites[k]]
    if not kinds:
        return None
    kind = rng.choices(kinds, [(weights or {}).get(k, 1.0) for k in kinds])[0]
    return kind, rng.choice(sites[kind])


# ----------------------------------------------------------------------------------------------------
# Operators


def _debug_desc(src: str, is_float: bool, rng: random.Random) -> tuple[dict[str, Any], str]:
    if is_float and rng.random() < 0.35:
        msg = f"{src.replace(':', '_').replace('/', '_')} not finite"
        return ({"class": "eval", "from": src, "eval": f"tf.debugging.check_numerics(source(0), '{msg}')"},
                "check_numerics eval")
    desc: dict[str, Any] = {"class": "print", "from": src}
    summarize = rng.choice([None, 3, 10, 100])
    if summarize is not None:
        desc["summarize"] = summarize
    return desc, "print"


def op_print_path(case: Case, rng: random.Random) -> Result:
    """A ``print`` (or a ``check_numerics`` eval) on one edge between choice, state, encoder, decoder and
    ``decide``."""
    new, net = _copy(case)
    sites: dict[str, list[Site]] = {"label": [], "label-prev": [], "scores": [], "enc": [], "decoder": [],
                                    "decided": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            if _readers(unit, c):
                sites["label"].append((rec, c))
            if _readers(unit, c, f"prev:{c}"):
                sites["label-prev"].append((rec, c))
        for c in _unit_choices(unit):
            if _scores(unit, c):
                sites["scores"].append((rec, c))
    sites["enc"] = list(_enc_sites(net))
    sites["decoder"] = [(r,) for r in _decoder_sites(net) if _readers(net, r)]
    sites["decided"] = [(d,) for d, _ in _decided_sites(net)]
    picked = _pick_kind(sites, rng)
    if picked is None:
        return None
    kind, site = picked
    if kind in ("label", "label-prev", "scores"):
        rec, choice = site
        unit = net[rec]["unit"]
        if kind == "scores":
            scores = _scores(unit, choice)
            desc, what = _debug_desc(scores, True, rng)
            name = _interpose(unit, [choice], scores, f"{scores}_debug", desc)
            return new, f"{rec}/{choice} chooses from {what} {rec}/{name} of {rec}/{scores}"
        desc, what = _debug_desc(choice, False, rng)
        if kind == "label":
            readers = _readers(unit, choice)
            name = _interpose(unit, readers, choice, f"{choice}_print", desc)
            return new, f"{', '.join(f'{rec}/{r}' for r in readers)} read {what} {rec}/{name} of {rec}/{choice}"
        name, readers = _prev_interpose(unit, choice, f"{choice}_print", desc)
        return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read prev:{name}, a {what} of "
                     f"{rec}/{choice}")
    if kind == "enc":
        rec, x = site
        desc, what = _debug_desc(x, net[x].get("class") in _FLOAT, rng)
        name = _enc_interpose(net, rec, x, f"{x}_debug", desc)
        return new, f"decoder {rec} reads {what} {name} of encoder layer {x}"
    src = site[0]
    desc, what = _debug_desc(src, False, rng)
    name, how = _root_place(net, src, f"{src}_print", desc)
    return new, f"{what} {name} of {src} after the search, {how}"


def op_grad_scale(case: Case, rng: random.Random) -> Result:
    """A ``scaled_grad`` (stop-gradient, gradient reversal, scaling) on a dense loop layer, on a choice's
    scores or between encoder and decoder."""
    new, net = _copy(case)
    sites: dict[str, list[Site]] = {"state": [], "state-prev": [], "scores": [], "enc": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for k in _dense_states(unit):
            if _readers(unit, k):
                sites["state"].append((rec, k))
            if _readers(unit, k, f"prev:{k}"):
                sites["state-prev"].append((rec, k))
        for c in _unit_choices(unit):
            if _scores(unit, c):
                sites["scores"].append((rec, c))
    sites["enc"] = [(r, x) for r, x in _enc_sites(net) if net[x].get("class") in _FLOAT]
    picked = _pick_kind(sites, rng)
    if picked is None:
        return None
    kind, site = picked
    scale = rng.choice([0.0, -1.0, 0.1])
    what = {0.0: "stop-gradient", -1.0: "gradient reversal"}.get(scale, f"gradient scale {scale}")
    if kind == "enc":
        rec, x = site
        name = _enc_interpose(net, rec, x, f"{x}_grad", {"class": "scaled_grad", "from": x, "scale": scale})
        return new, f"decoder {rec} reads {name}, a {what} scaled_grad of encoder layer {x}"
    rec, k = site
    unit = net[rec]["unit"]
    desc = {"class": "scaled_grad", "from": k, "scale": scale}
    if kind == "scores":
        scores = _scores(unit, k)
        desc["from"] = scores
        name = _interpose(unit, [k], scores, f"{scores}_grad", desc)
        return new, f"{rec}/{k} chooses from {rec}/{name}, a {what} scaled_grad of {rec}/{scores}"
    if kind == "state":
        readers = _readers(unit, k)
        name = _interpose(unit, readers, k, f"{k}_grad", desc)
        return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read {rec}/{name}, a {what} scaled_grad "
                     f"of {rec}/{k}")
    name, readers = _prev_interpose(unit, k, f"{k}_grad", desc)
    return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read prev:{name}, a {what} scaled_grad "
                 f"of {rec}/{k}")


def op_relabel(case: Case, rng: random.Random) -> Result:
    """Labels read through a ``reinterpret_data`` with a flag, in the loop or at the root."""
    new, net = _copy(case)
    sites: dict[str, list[Site]] = {"label": [], "label-prev": [], "decoder": [], "decided": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        for c in _label_choices(unit):
            if _readers(unit, c):
                sites["label"].append((rec, c))
            if _readers(unit, c, f"prev:{c}"):
                sites["label-prev"].append((rec, c))
    sites["decoder"] = [(r,) for r in _decoder_sites(net, labels=True)]
    sites["decided"] = list(_decided_sites(net, labels=True))
    picked = _pick_kind(sites, rng)
    if picked is None:
        return None
    kind, site = picked
    flags: list[dict[str, Any]] = [{"increase_sparse_dim": 1}, {"set_sparse": True},
                                   {"enforce_batch_major": True}, {"is_output_layer": True}]
    if kind == "decoder":
        decided = [d for d, r in _decided_sites(net, labels=True) if r == site[0]]
        flags += [{"size_base": d} for d in decided]
    elif kind == "decided":
        flags.append({"size_base": site[1]})
        flags.append({"size_base": site[1]})
    flag = dict(rng.choice(flags))
    shown = ", ".join(f"{k}={v}" for k, v in flag.items())
    if kind in ("label", "label-prev"):
        rec, choice = site
        unit = net[rec]["unit"]
        desc = {"class": "reinterpret_data", "from": choice, **flag}
        if kind == "label":
            readers = _readers(unit, choice)
            name = _interpose(unit, readers, choice, f"{choice}_relabel", desc)
            return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read {rec}/{name}, reinterpret_data "
                         f"({shown}) of {rec}/{choice}")
        name, readers = _prev_interpose(unit, choice, f"{choice}_relabel", desc)
        return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read prev:{name}, reinterpret_data "
                     f"({shown}) of {rec}/{choice}")
    src = site[0]
    desc = {"class": "reinterpret_data", "from": src, **flag}
    name, how = _root_place(net, src, f"{src}_relabel", desc)
    return new, f"reinterpret_data {name} ({shown}) of {src}, {how}"


def _log_eval(unit: dict[str, Any], choice: str, scores: str) -> str:
    """An eval string for the log-scores of a choice's input."""
    desc = unit[scores]
    if desc.get("class") == "softmax" or desc.get("activation") == "softmax":
        return "safe_log(source(0))"
    if unit[choice].get("input_type") == "log_prob" or desc.get("activation") == "log_softmax":
        return "source(0)"
    return "tf.nn.log_softmax(source(0))"


def op_score_probe(case: Case, rng: random.Random) -> Result:
    """A probe of a choice's scores kept as an extra output: in the loop, in a subnetwork in the loop, or
    at the root reading ``REC/SCORES``."""
    new, net = _copy(case)
    sites = [(rec, c, s) for rec in _searching_recs(net) for c in _unit_choices(net[rec]["unit"])
             if (s := _scores(net[rec]["unit"], c))]
    if not sites:
        return None
    rec, choice, scores = rng.choice(sites)
    unit = net[rec]["unit"]
    level = rng.choice(["loop", "subnet", "root"])
    log = _log_eval(unit, choice, scores)
    labels = choice in _label_choices(unit)
    if level == "loop":
        how = rng.choice(["reduce", "log", "greedy", "chosen"] if labels else ["reduce", "log"])
        if how == "reduce":
            mode = rng.choice(["max", "argmax", "logsumexp"])
            name = _fresh(unit, f"{scores}_{mode}")
            unit[name] = {"class": "reduce", "mode": mode, "axes": "F", "from": scores, "is_output_layer": True}
            return new, f"output layer {rec}/{name}: reduce {mode} of {rec}/{scores} over the features"
        if how == "log":
            name = _fresh(unit, f"{scores}_log")
            unit[name] = {"class": "eval", "from": scores, "eval": log, "is_output_layer": True}
            return new, f"output layer {rec}/{name}: log-scores ({log}) of {rec}/{scores}"
        if how == "chosen":
            name = _fresh(unit, f"{choice}_score")
            unit[name] = {"class": "gather", "from": scores, "position": choice, "axis": "F",
                          "is_output_layer": True}
            return new, f"output layer {rec}/{name}: {rec}/{scores} at the label {rec}/{choice} chose (gather)"
        arg = _fresh(unit, f"{scores}_argmax")
        unit[arg] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": scores}
        name = _fresh(unit, f"{choice}_is_greedy")
        unit[name] = {"class": "compare", "kind": "equal", "from": [arg, choice], "is_output_layer": True}
        return new, f"output layer {rec}/{name}: {rec}/{choice} equals the argmax of {rec}/{scores}"
    if level == "subnet" and labels and rng.random() < 0.4:
        name = _fresh(unit, f"{choice}_score_probe")
        unit[name] = {"class": "subnetwork", "from": [], "is_output_layer": True, "subnetwork": {
            "log_scores": {"class": "eval", "from": f"base:{scores}", "eval": log},
            "output": {"class": "gather", "from": "log_scores", "position": f"base:{choice}", "axis": "F"}}}
        return new, (f"output subnetwork {rec}/{name} in the loop: the log-score of the label {rec}/{choice} "
                     f"chose (gather over base:{scores})")
    if level == "subnet":
        mode = rng.choice(["max", "argmax"])
        name = _fresh(unit, f"{scores}_probe")
        unit[name] = {"class": "subnetwork", "from": scores, "is_output_layer": True, "subnetwork": {
            "log_scores": {"class": "eval", "from": "data", "eval": log},
            "output": {"class": "reduce", "mode": mode, "axes": "F", "from": "log_scores"}}}
        return new, (f"output subnetwork {rec}/{name} in the loop: reduce {mode} of the log-scores of "
                     f"{rec}/{scores}")
    unit[scores]["is_output_layer"] = True
    ref = f"{rec}/{scores}"
    decided = [d for d, r in _decided_sites(net) if r == rec]
    hows = ["reduce", "dump"] + (["greedy"] if decided and labels else [])
    how = rng.choice(hows)
    if how == "dump":
        name = _fresh(net, f"{rec}_{scores}_dump")
        net[name] = {"class": "hdf_dump", "from": ref, "filename": f"/tmp/searchgraph_{name}.hdf",
                     "is_output_layer": True}
        return new, f"{ref} marked is_output_layer; root hdf_dump {name} of {ref}"
    if how == "reduce":
        mode = rng.choice(["max", "argmax", "logsumexp"])
        name = _fresh(net, f"{rec}_{scores}_{mode}")
        net[name] = {"class": "reduce", "mode": mode, "axes": "F", "from": ref, "is_output_layer": True}
        return new, f"{ref} marked is_output_layer; root output layer {name}: reduce {mode} of {ref}"
    decision = rng.choice(decided)
    arg = _fresh(net, f"{rec}_{scores}_argmax")
    net[arg] = {"class": "reduce", "mode": "argmax", "axes": "F", "from": ref}
    name = _fresh(net, f"{decision}_is_greedy")
    net[name] = {"class": "compare", "kind": "equal", "from": [arg, decision], "is_output_layer": True}
    return new, f"{ref} marked is_output_layer; root output layer {name}: {decision} equals the argmax of {ref}"


def _order_desc(src: str, dep: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    if rng.random() < 0.5:
        return {"class": "identity", "from": src, "control_dependencies": [dep]}, "identity with control_dependencies"
    return {"class": "copy", "from": src, "extra_deps": [dep]}, "copy with extra_deps"


def op_control_deps(case: Case, rng: random.Random) -> Result:
    """An ``identity`` with ``control_dependencies`` or a ``copy`` with ``extra_deps`` on a debug layer
    or another layer, between state, encoder, decoder and ``decide``."""
    new, net = _copy(case)
    sites: dict[str, list[Site]] = {"state": [], "state-prev": [], "enc": [], "decoder": [], "decided": []}
    for rec in _searching_recs(net):
        unit = net[rec]["unit"]
        choices = _unit_choices(unit)
        for k in _dense_states(unit):
            if _readers(unit, k, f"prev:{k}"):
                sites["state-prev"] += [(rec, k, c) for c in _label_choices(unit)]
            if not _readers(unit, k):
                continue
            after = {r for r in _layers(unit) if k in _frame_ancestors(unit, r)} | {k}
            deps = [f"print:{c}" for c in _label_choices(unit)]
            deps += [f"prev:{s}" for c in choices if (s := _scores(unit, c))]
            deps += [d for d in _layers(unit) if d not in after and d != "end" and unit[d].get("class") != "choice"
                     and not unit[d].get("is_output_layer")]
            sites["state"] += [(rec, k, d) for d in sorted(set(deps))]
    beamed = _beamed_roots(net)
    for rec, x in _enc_sites(net):
        others = [d for d in _layers(net) if d not in beamed and d != x and d != rec
                  and rec not in _root_ancestors(net, d) and x not in _root_ancestors(net, d)
                  and net[d].get("class") not in ("decide", "choice")]
        sites["enc"] += [(rec, x, d) for d in others]
    for rec in _decoder_sites(net):
        if _readers(net, rec):
            sites["decoder"] += [(rec, x) for r, x in _enc_sites(net) if r == rec]
    sites["decided"] = list(_decided_sites(net))
    picked = _pick_kind(sites, rng, {"decided": 2.0})
    if picked is None:
        return None
    kind, site = picked
    if kind == "state-prev":
        rec, k, choice = site
        unit = net[rec]["unit"]
        dep, extra = choice, ""
        if rng.random() < 0.4:
            dep = _fresh(unit, f"{choice}_print")
            unit[dep] = {"class": "print", "from": choice}
            extra = f" (a print of {choice})"
        desc, what = _order_desc(k, dep, rng)
        name, readers = _prev_interpose(unit, k, f"{k}_after", desc)
        return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read prev:{name}, {what} "
                     f"{dep}{extra} (this frame's label), of {rec}/{k}")
    if kind == "state":
        rec, k, dep = site
        unit = net[rec]["unit"]
        extra = ""
        if dep.startswith("print:"):
            choice = dep[len("print:"):]
            dep = _fresh(unit, f"prev_{choice}_print")
            unit[dep] = {"class": "print", "from": f"prev:{choice}"}
            extra = f" (a print of prev:{choice})"
        desc, what = _order_desc(k, dep, rng)
        readers = _readers(unit, k)
        name = _interpose(unit, readers, k, f"{k}_after", desc)
        return new, (f"{', '.join(f'{rec}/{r}' for r in readers)} read {rec}/{name}, {what} "
                     f"{dep}{extra}, of {rec}/{k}")
    if kind == "enc":
        rec, x, dep = site
        desc, what = _order_desc(x, dep, rng)
        name = _enc_interpose(net, rec, x, f"{x}_after", desc)
        return new, f"decoder {rec} reads {name}, {what} {dep}, of encoder layer {x}"
    src, dep = site
    desc, what = _order_desc(src, dep, rng)
    name, how = _root_place(net, src, f"{src}_after", desc)
    return new, f"{name}, {what} {dep}, of {src}, {how}"


FRESH32_OPERATORS: tuple[Op, ...] = (
    Op("print-path", op_print_path, 1),
    Op("grad-scale", op_grad_scale, 1),
    Op("relabel", op_relabel, 1),
    Op("score-probe", op_score_probe, 1),
    Op("control-deps", op_control_deps, 1),
)
