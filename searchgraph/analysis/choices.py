"""Search choices in a rec loop: the frame's latest choice, and a choice's chain within its frame.

A layer's search choices (RETURNN's ``SearchChoices``, found by ``TFNetwork.get_search_choices``) are
a chain of choice owners: the choice, the choice it was chosen from, ... down to the previous frame's
choice (``prev:c``). After the loop RETURNN backtracks every accumulated layer along the frame's
*latest* choice (``_SubnetworkRecCell._opt_search_resolve``, ``_get_search_choice_seq``): the one whose
chain the frame's other choices are on, i.e. the choice the next frame starts from.
"""

from __future__ import annotations

from collections.abc import Mapping

from .beams import SearchBeam
from .structure import Structure

__all__ = ["frame_choices", "latest_choices", "owner"]


def owner(beam: SearchBeam) -> str:
    """The layer that made a beam or choice: ``output/prev:output`` -> ``output/output``."""
    return beam.name.replace("prev:", "", 1)


def latest_choices(s: Structure, chosen: Mapping[str, SearchBeam | None]) -> dict[str, str]:
    """rec layer -> its loop's latest choice: of the loop's choices (layers whose search choices are
    their own), the one a choice's previous frame refers to, else the last in construction order.
    ``chosen``: layer -> its search choices (a pass's table)."""
    owners: dict[str, list[str]] = {}
    for node, rec in s.loop_choosers():
        choices = chosen.get(node)
        if choices is not None and choices.name == node and rec is not None:
            owners.setdefault(rec, []).append(node)
    out: dict[str, str] = {}
    for rec, nodes in owners.items():
        latest = None
        for node in nodes:
            prev = next((b for b in chosen[node].walk() if b.is_prev_frame), None)  # type: ignore[union-attr]
            if prev is not None and owner(prev) in nodes:
                latest = owner(prev)
                break
        out[rec] = latest or nodes[-1]
    return out


def frame_choices(chosen: SearchBeam | None) -> tuple[str | None, list[str]]:
    """(the choice whose previous frame the chain starts from, the chain's choices in this frame):
    ``_SubnetworkRecCell._get_search_choice_seq``'s ``get_choice_seq``."""
    if chosen is None:
        return None, []
    seq = []
    for beam in chosen.walk():
        if beam.is_prev_frame:
            return owner(beam), seq
        seq.append(beam.name)
    return None, seq
