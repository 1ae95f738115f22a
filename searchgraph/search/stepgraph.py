"""Step graphs: one decoding step in net-dict form, analysed as a RETURNN rec unit (no TensorFlow).

A *step graph* describes one frame of a beam search the way a RETURNN rec ``unit`` does, but its
nodes are plain Python callables on tensors::

    step = {
        "emb":    {"fn": embed, "from": ["prev:output"]},
        "s":      {"fn": cell, "from": ["emb", "prev:s", "base:enc"], "initial": zero_state},
        "logp":   {"fn": readout, "from": ["s", "base:enc"]},
        "output": {"class": "choice", "from": "logp", "beam_size": 4, "input_type": "log_prob"},
        "end":    {"fn": lambda y: tf.equal(y, 0), "from": ["output"]},
    }

References in ``from``: another node (``"s"``), its value in the previous frame (``"prev:s"``,
which needs ``"initial"``; choices default to label 0), a tensor from outside the loop
(``"base:enc"``, given when the search is run) and the frame index (``":i"``).

:func:`compile_step` maps the step graph onto a RETURNN network dict (``fn`` nodes become
``eval`` layers, outside inputs root layers, the ``end`` node reads ``prev:end`` as RETURNN
does implicitly), analyses it with :func:`searchgraph.analyze` and
:func:`searchgraph.analysis.plan.plan_network`, and returns a :class:`StepProgram`: the evaluation order,
the translation plan of every node's inputs, the choices of a frame in order with their base beams,
and the end-of-frame re-selections. ``searchgraph.tf.search`` executes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.model import Analysis, InputBeam
from ..analysis.plan import InputPlan, NetworkPlan, plan_input, plan_network
from ..checks.pipeline import analyze
from ..errors import SearchgraphError

__all__ = ["ChoiceProgram", "NodeProgram", "StepGraphError", "StepProgram", "compile_step", "to_net_dict"]

#: Name of the rec layer the step graph becomes; node ``x`` is RETURNN's ``output/x``.
REC = "output"
INPUT_TYPES = ("log_prob", "prob", "logits")
#: A name reserved for searchgraph (earlier versions added such a root layer to nodes reading ``:i``).
BATCH_MARKER = "sg_batch_marker"
_CHOICE_KEYS = {"class", "from", "beam_size", "input_type", "length_normalization",
                "length_normalization_exponent", "initial"}
_FN_KEYS = {"fn", "from", "initial"}


class StepGraphError(SearchgraphError, ValueError):
    """A step graph that cannot be searched (``where`` is the node, e.g. ``output/s``)."""


@dataclass(frozen=True)
class NodeProgram:
    """One node of the step graph, ready to evaluate.

    Attributes
    ----------
    name : the user's node name (``s``).
    kind : ``fn``, ``choice`` or ``end`` (the node named ``end``, a ``fn`` node).
    refs : the user's ``from`` references, in argument order.
    args : the absolute input names (plan keys) of ``refs``, same order.
    plans : absolute input name -> how it is brought into this node's beam.
    beam : the node's beam name, or None; ``size`` its beam size (rows are ``batch * size``).
    invariant : depends only on outside inputs: computed once, before the loop.
    """

    name: str
    kind: str
    refs: tuple[str, ...]
    args: tuple[str, ...]
    plans: dict[str, InputPlan]
    beam: str | None
    size: int | None
    invariant: bool


@dataclass(frozen=True)
class ChoiceProgram:
    """A choice node: RETURNN's ``ChoiceLayer`` in search.

    ``base`` is the beam the choice extends (``output/prev:c2`` for the frame's first choice, the
    previous choice's beam otherwise), ``base_size`` its size; ``end_plan`` brings the previous
    frame's end flags into ``base`` (None without an end node).
    """

    name: str
    source: str
    beam_size: int
    input_type: str
    length_normalization: bool
    length_normalization_exponent: float
    base: str
    base_size: int
    end_plan: InputPlan | None


@dataclass
class StepProgram:
    """A compiled step graph (see the module docstring)."""

    step: dict[str, dict[str, Any]]
    inputs: tuple[str, ...]
    net: dict[str, Any]
    analysis: Analysis
    plans: NetworkPlan
    nodes: dict[str, NodeProgram]
    order: list[str]
    choices: list[ChoiceProgram]
    state: list[str]
    frame_plans: dict[str, InputPlan]
    end: str | None
    end_choice: str | None
    sizes: dict[str, int | None] = field(default_factory=dict)

    @property
    def choice_names(self) -> list[str]:
        """The choices of one frame, oldest first."""
        return [c.name for c in self.choices]

    @property
    def latest(self) -> ChoiceProgram:
        """The frame's last choice: its beam is the beam of the search's results."""
        return self.choices[-1]

    @property
    def end_index(self) -> int | None:
        """Position of the end node's choice in :attr:`choices`."""
        return None if self.end_choice is None else self.choice_names.index(self.end_choice)


def _abs(name: str) -> str:
    return f"{REC}/{name}"


def _user(abs_name: str) -> str:
    return abs_name.split("/", 1)[1] if abs_name.startswith(REC + "/") else abs_name


def _refs(name: str, node: Mapping[str, Any]) -> list[str]:
    src = node.get("from", [])
    if isinstance(src, str):
        src = [src]
    if not isinstance(src, (list, tuple)) or not all(isinstance(s, str) for s in src):
        raise StepGraphError("'from' must be a node name or a list of names", where=_abs(name),
                             hint='e.g. "from": ["prev:output", "base:enc"]')
    return list(src)


def _check_node(name: str, node: Any, inputs: Sequence[str], step: Mapping[str, Any]) -> None:
    where = _abs(name)
    if not isinstance(node, Mapping):
        raise StepGraphError(f"a node must be a dict, got {type(node).__name__}", where=where,
                             hint='{"fn": callable, "from": [...]} or {"class": "choice", ...}')
    if not name or "/" in name or ":" in name:
        raise StepGraphError(f"invalid node name {name!r}", where=where,
                             hint="use plain names without '/' or ':'")
    if node.get("class") == "choice":
        unknown = set(node) - _CHOICE_KEYS
        k = node.get("beam_size")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise StepGraphError(f"beam_size must be a positive int, got {k!r}", where=where,
                                 hint='"beam_size": 4')
        if node.get("input_type", "log_prob") not in INPUT_TYPES:
            raise StepGraphError(f"input_type must be one of {INPUT_TYPES}, got {node.get('input_type')!r}",
                                 where=where, hint='"input_type": "log_prob"')
        if len(_refs(name, node)) != 1:
            raise StepGraphError("a choice needs exactly one score input in 'from'", where=where,
                                 hint='"from": "logp" (the [batch*beam, vocab] scores)')
    elif "class" in node:
        raise StepGraphError(f"unknown class {node['class']!r}", where=where,
                             hint='only "choice" has a class; other nodes are {"fn": callable, "from": [...]}')
    else:
        unknown = set(node) - _FN_KEYS
        if not callable(node.get("fn")):
            raise StepGraphError("'fn' must be a callable", where=where,
                                 hint='{"fn": lambda x: ..., "from": ["x"]}')
        if not _refs(name, node):
            raise StepGraphError("a fn node needs at least one input in 'from'", where=where,
                                 hint='use ":i" (the frame index) or "base:<input>" for a constant-like node')
    if unknown:
        raise StepGraphError(f"unknown keys {sorted(unknown)}", where=where,
                             hint=f"allowed: {sorted(_CHOICE_KEYS if node.get('class') else _FN_KEYS)}")
    for ref in _refs(name, node):
        if ref == ":i":
            continue
        if ref.startswith("base:"):
            if ref[5:] not in inputs:
                raise StepGraphError(f"{ref!r}: no outside input {ref[5:]!r}", where=where,
                                     hint=f"declare it in inputs=[...] (declared: {list(inputs)})")
            continue
        target = ref.removeprefix("prev:")
        if target not in step:
            raise StepGraphError(f"{ref!r} refers to no node", where=where,
                                 hint=f"nodes: {sorted(step)}")
        if ref.startswith("prev:"):
            tnode = step[target]
            if tnode.get("class") != "choice" and target != "end" and "initial" not in tnode:
                raise StepGraphError(f"{ref!r} is read from the previous frame but {target!r} has no "
                                     "'initial' value", where=_abs(target),
                                     hint='add "initial": 0.0 (broadcast), an array, or fn(batch) -> [batch, ...]')


def to_net_dict(step: Mapping[str, Mapping[str, Any]], inputs: Sequence[str] = ()) -> dict[str, Any]:
    """The RETURNN network dict a step graph stands for (only the structure: no values).

    ``fn`` nodes become ``eval`` layers over their inputs (opaque functions), choices ``choice`` layers, outside
    inputs root ``copy`` layers of ``data``, and the ``end`` node also reads ``prev:end`` (RETURNN
    ORs the end flag with the previous one). Without a node ``output``, one copying the last
    choice is added (a rec unit needs it).
    """
    unit: dict[str, Any] = {}
    for name, node in step.items():
        refs = _refs(name, node)
        if node.get("class") == "choice":
            unit[name] = {"class": "choice", "from": refs, "beam_size": node["beam_size"],
                          "target": "classes", "input_type": node.get("input_type", "log_prob"),
                          "initial_output": 0, "is_output_layer": True}
        else:
            if name == "end" and "prev:end" not in refs:
                refs = refs + ["prev:end"]
            # an opaque function of its inputs (``eval``): its output is whatever the function makes (scores,
            # flags, a state: dense), not labels because a choice is among its inputs
            unit[name] = {"class": "eval", "eval": "source(0)", "from": refs, "is_output_layer": True,
                          "out_type": {"sparse": False}}
            if "initial" in node or name == "end":
                unit[name]["initial_output"] = 0
    if "output" not in unit:
        choices = [n for n, d in step.items() if d.get("class") == "choice"]
        unit["output"] = {"class": "copy", "from": choices[-1] if choices else []}
    net: dict[str, Any] = {name: {"class": "copy", "from": "data"} for name in inputs}
    net[REC] = {"class": "rec", "from": [], "max_seq_len": 1000, "target": "classes", "unit": unit}
    return net


def _order(step: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Topological order over the current-frame references (``prev:`` edges excluded)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(path[path.index(name):] + [name])
            raise StepGraphError(f"cycle within one frame: {cycle}", where=_abs(name),
                                 hint="read one of them from the previous frame with 'prev:'")
        state[name] = 1
        for ref in _refs(name, step[name]):
            if ref != ":i" and not ref.startswith(("prev:", "base:")):
                visit(ref, path + [name])
        state[name] = 2
        order.append(name)

    for name in step:
        visit(name, [])
    return order


def _invariant(step: Mapping[str, Mapping[str, Any]], order: list[str]) -> set[str]:
    inv: set[str] = set()
    for name in order:
        node = step[name]
        if node.get("class") == "choice" or name == "end":
            continue
        if all(r.startswith("base:") or r in inv for r in _refs(name, node)):
            inv.add(name)
    return inv


def _choice_order(analysis: Analysis, choices: list[str]) -> list[str]:
    """The choices of a frame, oldest first: follow the base beams back from the latest one."""
    base = {c: analysis.layers[_abs(c)].beam.dependency for c in choices}  # type: ignore[union-attr]
    firsts = [c for c in choices if base[c] is None or base[c].is_prev_frame]
    if len(firsts) != 1:
        raise StepGraphError(
            f"the choices {choices} do not form one chain per frame ({len(firsts)} extend the previous "
            "frame)", where=_abs(choices[0]),
            hint="each choice must take its scores from the one before it, the first from the previous frame")
    chain = [firsts[0]]
    while len(chain) < len(choices):
        nxt = [c for c in choices if c not in chain and base[c] is not None
               and base[c].name == _abs(chain[-1])]
        if len(nxt) != 1:
            raise StepGraphError(f"after {chain[-1]!r} the chain of choices is ambiguous or broken",
                                 where=_abs(chain[-1]),
                                 hint="each choice must take its scores from the one before it")
        chain.append(nxt[0])
    first_base = base[chain[0]]
    if first_base is not None and first_base.name != f"{REC}/prev:{chain[-1]}":
        raise StepGraphError(f"the first choice {chain[0]!r} extends {first_base.name}, not the previous "
                             f"frame's last choice {chain[-1]!r}", where=_abs(chain[0]),
                             hint="make the first choice depend on the previous frame's last choice")
    return chain


def compile_step(step: Mapping[str, Mapping[str, Any]], inputs: Sequence[str] = ()) -> StepProgram:
    """Check, analyse and plan a step graph (see the module docstring).

    Raises
    ------
    StepGraphError
        The graph is malformed, or RETURNN would reject the network it stands for (the message
        names the node and gives RETURNN's error).
    """
    if not isinstance(step, Mapping) or not step:
        raise StepGraphError("the step graph must be a non-empty dict of nodes",
                             hint='{"output": {"class": "choice", ...}, ...}')
    inputs = tuple(inputs)
    for name in inputs:
        if not isinstance(name, str) or not name or "/" in name or ":" in name or name == BATCH_MARKER:
            raise StepGraphError(f"invalid outside input name {name!r}", hint="use plain names")
    step = {name: dict(node) if isinstance(node, Mapping) else node for name, node in step.items()}
    for name, node in step.items():
        _check_node(name, node, inputs, step)
    choices = [n for n, d in step.items() if d.get("class") == "choice"]
    if not choices:
        raise StepGraphError("the step graph has no choice node", where=REC,
                             hint='add {"class": "choice", "from": "<scores>", "beam_size": K}')
    order = _order(step)
    net = to_net_dict(step, inputs)
    analysis = analyze(net)
    for name in order:
        lb = analysis.layers.get(_abs(name))
        if lb is None:
            raise StepGraphError("the analysis did not construct this node", where=_abs(name),
                                 hint="check it with `searchgraph beams` on searchgraph.search.stepgraph.to_net_dict(step)")
        if lb.error:
            raise StepGraphError(f"RETURNN would reject this step graph: {lb.error.splitlines()[0]}",
                                 where=_abs(name), hint="see `searchgraph beams` on the equivalent net dict "
                                 "(searchgraph.search.stepgraph.to_net_dict)")
    plans = plan_network(analysis)
    chain = _choice_order(analysis, choices)
    invariant = _invariant(step, order)
    nodes: dict[str, NodeProgram] = {}
    sizes: dict[str, int | None] = {}
    for name in order:
        lb = analysis.layers[_abs(name)]
        lp = plans.layers[_abs(name)]
        for item in lp.inputs:
            if item.error:
                raise StepGraphError(f"input {item.input}: {item.error.splitlines()[0]}", where=_abs(name),
                                     hint="the inputs' beams cannot be brought together")
        refs = tuple(_refs(name, step[name]))
        args = tuple(r[5:] if r.startswith("base:") else _abs(r) for r in refs)
        kind = "choice" if name in choices else ("end" if name == "end" else "fn")
        nodes[name] = NodeProgram(name, kind, refs, args,
                                  {i.input: i for i in lp.inputs if i.input != BATCH_MARKER},
                                  lb.beam.name if lb.beam else None, lb.beam.size if lb.beam else None,
                                  name in invariant)
        sizes[name] = lb.beam.size if lb.beam else None
    end = "end" if "end" in step else None
    end_choice = None
    end_prev = None
    if end is not None:
        eb = analysis.layers[_abs("end")].beam
        if eb is None:
            raise StepGraphError("the end node has no beam: it must depend on a choice", where=_abs("end"),
                                 hint='e.g. "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}')
        end_choice = eb.name.replace("prev:", "", 1).split("/", 1)[1]
        end_prev = eb if eb.is_prev_frame else eb.copy_as_prev_frame()
    programs = []
    for c in chain:
        node = step[c]
        dep = analysis.layers[_abs(c)].beam.dependency  # type: ignore[union-attr]
        base = dep if dep is not None else analysis.layers[_abs(c)].beam.copy_as_prev_frame()  # type: ignore
        end_plan = None
        if end_prev is not None:
            item = InputBeam(f"{REC}/prev:end", _abs("end"), "end", "prev", end_prev)
            end_plan = plan_input(analysis, item, base, False)
        programs.append(ChoiceProgram(
            c, _refs(c, node)[0], node["beam_size"], node.get("input_type", "log_prob"),
            bool(node.get("length_normalization", True)), float(node.get("length_normalization_exponent", 1.0)),
            base.name, base.size, end_plan))
    read_prev = sorted({r[5:] for d in step.values() for r in _refs("", d) if r.startswith("prev:")}
                       | ({"end"} if end else set()))
    frame_plans = {_user(f.layer): f.plan for f in plans.frames if _user(f.layer) in read_prev}
    return StepProgram(step, inputs, net, analysis, plans, nodes, order, programs, read_prev, frame_plans,
                       end, end_choice, sizes)


def describe(program: StepProgram) -> str:
    """A few lines: the choices in frame order, every node's beam and how its inputs are moved."""
    lines = [f"choices: {' -> '.join(f'{c.name}(K={c.beam_size}, from {c.base})' for c in program.choices)}"]
    for name in program.order:
        node = program.nodes[name]
        where = "before the loop" if node.invariant else (node.beam or "no beam")
        lines.append(f"{name}: {where}")
        for item in node.plans.values():
            if item.action != "keep":
                lines.append(f"  {item.describe()}")
    for name, plan in program.frame_plans.items():
        if plan.action != "keep":
            lines.append(f"frame end: {plan.describe()}")
    return "\n".join(lines)

