"""Execute translation plans on tensors: what RETURNN's ``SelectSearchSourcesLayer`` does.

A plan (:mod:`searchgraph.analysis.plan`) says per input: keep it, tile it into a beam, or select it through
a chain of choices. Executed here, a chain of k choices moves the payload once: the choices'
``src_beams`` are composed first (``compose_src_beams``), then one gather.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from ..analysis.plan import FramePlan, InputPlan, LayerPlan
from .beams import compose_src_beams, select_src_beams, tile_to_beam

__all__ = ["execute_input", "execute_plan"]

PlanLike = LayerPlan | FramePlan | InputPlan


def execute_input(item: InputPlan, x: tf.Tensor, src_beams: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Translate one input tensor ``x`` (``[batch*beam_before, ...]``) as ``item`` says.

    ``src_beams`` maps each choice name to its ``[batch, beam]`` int ``src_beams`` of this frame.
    """
    if item.error:
        raise ValueError(f"{item.input}: the plan has an error: {item.error.splitlines()[0]}")
    if item.action == "keep":
        return x
    if item.action == "tile":
        return tile_to_beam(x, item.size)
    missing = [s.choice for s in item.steps if s.choice not in src_beams]
    if missing:
        raise KeyError(f"{item.input}: no src_beams given for {', '.join(missing)}")
    chain = [src_beams[s.choice] for s in item.steps]
    return select_src_beams(x, compose_src_beams(chain))


def execute_plan(plan: PlanLike, tensors: Mapping[str, tf.Tensor],
                 src_beams: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The translated inputs of a layer: input name -> tensor in the layer's common beam.

    Parameters
    ----------
    plan : a :class:`~searchgraph.analysis.plan.LayerPlan` (all inputs of a layer), a frame-end
        :class:`~searchgraph.analysis.plan.FramePlan`, or a single :class:`~searchgraph.analysis.plan.InputPlan`.
    tensors : input name (as in the plan, e.g. ``output/prev:s``) -> tensor ``[batch*beam, ...]``.
    src_beams : choice name -> that choice's ``[batch, beam]`` src_beams (int32 or int64).

    Works eagerly and inside ``tf.function``; runs where the tensors are (CPU or GPU).
    """
    if isinstance(plan, LayerPlan):
        items = plan.inputs
    elif isinstance(plan, FramePlan):
        items = [plan.plan]
    else:
        items = [plan]
    out: dict[str, tf.Tensor] = {}
    for item in items:
        if item.input in out:  # the same layer in several arguments: translated once
            continue
        if item.input not in tensors:
            raise KeyError(f"no tensor given for input {item.input!r}")
        out[item.input] = execute_input(item, tensors[item.input], src_beams)
    return out
