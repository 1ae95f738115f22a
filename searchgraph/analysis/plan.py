"""Translation plans: how each layer's inputs are brought into one beam (spec §4).

When a layer's constructor receives several layers, RETURNN picks their newest search choice
(``translate_to_common_search_beam``) and re-selects every other input into it
(``SelectSearchSourcesLayer``): an input on an older choice is gathered through the ``src_beams`` of
every newer choice, oldest first; an input without a beam is tiled; an input on that very choice is
kept. Inside a rec loop, values carried to the next frame are re-selected at the end of each frame.
This module makes those plans explicit data, printable and JSON-serialisable; ``searchgraph.tf``
executes them on tensors.

Plans follow search choices, not beams: a choice that makes no beam of its own (``input_type:
"regression"``, or ``search: False`` adding its scores) keeps its source's beam but still has
``src_beams`` (zeros, or the identity), and RETURNN selects through it like through any choice. Names
in plans (``choice``, ``beam``, the steps) are those of the choices' owners; for a choice that makes
its own beam, that is the beam's name too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .beams import SearchBeam
from .model import Analysis, InputBeam

__all__ = ["FramePlan", "InputPlan", "LayerPlan", "NetworkPlan", "Step", "plan_for", "plan_input",
           "plan_network"]


@dataclass(frozen=True)
class Step:
    """One ``select_src_beams`` through ``choice``: from ``beam_before`` (size_before) into the
    choice's beam (size_after)."""

    choice: str
    beam_before: str
    size_before: int
    beam_after: str
    size_after: int


@dataclass(frozen=True)
class InputPlan:
    """What happens to one input: ``keep``, ``tile`` (to ``beam``, ``size``) or ``select``
    (through ``steps``, oldest first)."""

    input: str
    option: str
    action: str
    beam: str | None = None
    size: int | None = None
    steps: tuple[Step, ...] = ()
    error: str | None = None

    def describe(self) -> str:
        """``output/prob ← output/att  tile ×12 → output/prev:output`` style, without the layer."""
        if self.error:
            return f"{self.input}  ✗ {self.error.splitlines()[0]}"
        if self.action == "keep":
            return f"{self.input}  keep"
        if self.action == "tile":
            return f"{self.input}  tile ×{self.size} → {self.beam}"
        path = " → ".join([self.steps[0].beam_before] + [s.beam_after for s in self.steps])
        return f"{self.input}  select via {', '.join(s.choice for s in self.steps)}: {path}"


@dataclass
class LayerPlan:
    """The plan of one layer: the common choice its inputs are brought to, and one plan per input."""

    layer: str
    choice: str | None
    inputs: list[InputPlan] = field(default_factory=list)
    size: int | None = None  #: the beam size all inputs end up in (None: no beam)

    @property
    def translated(self) -> list[InputPlan]:
        """The inputs that are really moved (tiled or selected)."""
        return [p for p in self.inputs if p.action != "keep"]


@dataclass
class FramePlan:
    """End-of-frame re-selection inside a rec loop: ``layer`` is read as ``prev:`` next frame and
    computed on ``prev:C``; it is re-selected into the current ``C`` (spec §4.6)."""

    rec: str
    layer: str
    plan: InputPlan


@dataclass
class NetworkPlan:
    """All layer plans and frame plans of an analysis; JSON round-trips."""

    layers: dict[str, LayerPlan] = field(default_factory=dict)
    frames: list[FramePlan] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {"layers": {n: asdict(p) for n, p in self.layers.items()},
                "frames": [asdict(f) for f in self.frames]}
        return json.loads(json.dumps(data))  # tuples as lists: what JSON gives back

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkPlan:
        def input_plan(d: dict[str, Any]) -> InputPlan:
            return InputPlan(**{**d, "steps": tuple(Step(**s) for s in d.get("steps", ()))})

        layers = {n: LayerPlan(p["layer"], p["choice"], [input_plan(i) for i in p["inputs"]],
                               p.get("size"))
                  for n, p in data.get("layers", {}).items()}
        frames = [FramePlan(f["rec"], f["layer"], input_plan(f["plan"])) for f in data.get("frames", [])]
        return cls(layers, frames)


def _choices(beam: SearchBeam | None, chosen: SearchBeam | None) -> SearchBeam | None:
    """The search choices behind a beam (none without a beam: RETURNN's ``get_search_choices``
    shortcut); ``chosen`` adds the choices that make no beam of their own."""
    if beam is None:
        return None
    return chosen if chosen is not None else beam


def _current(analysis: Analysis, beam: SearchBeam) -> SearchBeam:
    """The current-frame choices of ``prev:`` ones (``output/prev:c`` -> those of ``output/c``)."""
    owner = analysis.layers.get(beam.name.replace("prev:", "", 1))
    current = _choices(owner.beam, owner.chosen) if owner is not None else None
    return current if current is not None else (beam.next_frame or beam)


def _choice_sequence(analysis: Analysis, beam: SearchBeam) -> list[SearchBeam]:
    """RETURNN's ``get_src_choices_seq``: the choice, the choice it was chosen from, ...

    The choices' dependency chain down to the first ``prev:X`` (X is the frame's latest choice),
    then the ``prev:`` versions of X's own in-frame sources (``choice2, choice1, prev:choice2,
    prev:choice1``), stopping at a repeat.
    """
    seq = beam.walk()
    if seq and seq[-1].is_prev_frame:
        latest = _current(analysis, seq[-1])
        for cur in latest.walk()[1:]:
            if cur.is_prev_frame:
                break
            prev = cur.copy_as_prev_frame()
            if prev in seq:
                break
            seq.append(prev)
    return seq


def _common(analysis: Analysis, inputs: list[InputBeam]) -> tuple[SearchBeam | None, str | None]:
    """The newest choice among the inputs (``max`` by ``SearchChoices.compare``), or an error."""
    best: SearchBeam | None = None
    for item in inputs:
        beam = _choices(item.beam, item.choice)
        if beam is None:
            continue
        if best is None:
            best = beam
            continue
        if best == beam:
            continue
        if best.is_prev_frame != beam.is_prev_frame:
            best = beam if best.is_prev_frame else best
            continue
        a, b = (_current(analysis, best), _current(analysis, beam)) if best.is_prev_frame \
            else (best, beam)
        if a.name in [x.name for x in b.walk()]:
            best = beam
        elif b.name not in [x.name for x in a.walk()]:
            return None, (f"Cannot compare search choices {best.name} and {beam.name}: neither is "
                          "in the other's choice sequence")
    return best, None


def plan_input(analysis: Analysis, item: InputBeam, target: SearchBeam | None,
               decided_error: bool) -> InputPlan:
    """How one input ``item`` is brought into the choices ``target`` (``decided_error``: a decided
    input cannot be, RETURNN finds no common search base)."""
    if target is None or not item.batched:
        return InputPlan(item.name, item.option, "keep")
    if item.decided and decided_error:
        return InputPlan(item.name, item.option, "keep",
                         error=f"No common search base: {item.name} is decided, target choice "
                               f"{target.name}")
    have = _choices(item.beam, item.choice)
    if have is None:
        return InputPlan(item.name, item.option, "tile", target.name, target.size)
    if have == target:
        return InputPlan(item.name, item.option, "keep", target.name, target.size)
    owner = analysis.layer_graph.nodes.get(have.name.replace("prev:", "", 1), {})
    if owner.get("class") == "decide_keep_beam":  # keep_raw choices are never translated
        return InputPlan(item.name, item.option, "keep", have.name, have.size)
    seq = _choice_sequence(analysis, target)
    names = [b.name for b in seq]
    if have.name not in names:
        return InputPlan(item.name, item.option, "keep",
                         error=f"No common search base: from {have.name} to {target.name}")
    newer = seq[:names.index(have.name)]
    steps = []
    before = have
    for choice in reversed(newer):
        steps.append(Step(choice.name, before.name, before.size, choice.name, choice.size))
        before = choice
    return InputPlan(item.name, item.option, "select", target.name, target.size, tuple(steps))


def plan_for(analysis: Analysis, layer: str) -> LayerPlan:
    """The translation plan of one layer (``layer`` is RETURNN's absolute name)."""
    lb = analysis.layers[layer]
    inputs = lb.inputs
    if len(inputs) <= 1 or layer in analysis.unbuilt:
        # RETURNN translates only when the constructor receives several layers (and is called)
        beam = _choices(inputs[0].beam, inputs[0].choice) if len(inputs) == 1 else None
        return LayerPlan(layer, beam.name if beam else None,
                         [InputPlan(i.name, i.option, "keep") for i in inputs],
                         beam.size if beam else None)
    target, error = _common(analysis, inputs)
    if error:
        return LayerPlan(layer, None, [InputPlan(i.name, i.option, "keep", error=error)
                                       for i in inputs])
    decided = any(i.decided for i in inputs) and target is not None
    return LayerPlan(layer, target.name if target else None,
                     [plan_input(analysis, i, target, decided) for i in inputs],
                     target.size if target else None)


#: Classes that keep recurrent state inside a loop (RETURNN's ``rec_vars_outputs``): their state is
#: re-selected at the end of each frame like a ``prev:`` value.
_STATEFUL = frozenset({"rnn_cell", "self_attention", "cum_concat", "masked_computation", "window",
                       "cumsum", "twod_lstm", "kenlm", "edit_distance_table", "unmask",
                       "positional_encoding"})


def _carries_state(node: dict[str, Any]) -> bool:
    if node.get("class") == "rec":  # a rec layer inside the loop with a built-in cell (e.g. lstm)
        return not isinstance(node.get("options", {}).get("unit"), dict)
    if node.get("class") in ("window", "cumsum"):
        return False  # stateful only with recurrent=True; plain windows over a time axis are not
    return node.get("class") in _STATEFUL


def _carried(analysis: Analysis, name: str) -> bool:
    """Whether the loop carries the layer's value (or state) to the next frame, or uses it as the end
    flag: RETURNN's ``maybe_transform`` at the end of each frame (rec.py L3283-L3392) takes the
    ``prev:`` layers needed next frame (and ``need_last`` ones), the layers with rec state, and with an
    end flag the ``end`` layer."""
    g = analysis.layer_graph
    node = g.nodes[name]
    if any(d["kind"] == "prev" for _, _, d in g.out_edges(name, data=True)) or _carries_state(node) \
            or node.get("options", {}).get("need_last"):
        return True
    rec = node.get("unit")
    return node.get("local") == "end" and node.get("unit_kind") == "rec" and rec is not None \
        and rec not in analysis.length_known


def plan_network(analysis: Analysis) -> NetworkPlan:
    """Plans for every constructed layer, plus the end-of-frame re-selections of each rec loop.

    At the end of a frame, a carried layer whose search choices are a previous frame's (``prev:C``,
    it does not depend on this frame's choices) is re-selected into the current ``C``; choice layers
    have their own, current choices."""
    plan = NetworkPlan({name: plan_for(analysis, name) for name in analysis.layers})
    for name, lb in analysis.layers.items():
        # (``maybe_transform`` asks the layer's own ``get_search_choices()``)
        choices = _choices(lb.beam, lb.own or lb.chosen)
        if lb.placement != "loop" or choices is None or not choices.is_prev_frame \
                or name in analysis.unbuilt or not _carried(analysis, name):
            continue
        owner = analysis.layers.get(choices.name.replace("prev:", "", 1))
        current = _choices(owner.beam, owner.chosen) if owner is not None else None
        if current is None:
            continue
        item = InputBeam(name, name, "prev", "from", lb.beam, choice=choices)
        plan.frames.append(FramePlan(lb.unit or "", name, plan_input(analysis, item, current, False)))
    return plan
