"""What the template pass decides for the real construction.

Before a rec unit is built for real, RETURNN makes every layer's output template
(``_SubnetworkRecCell._construct_template``): the ``prev:`` values the real loop reads are these
templates, and the rec layer's own output beam is its unit ``output`` template's
(``RecLayer.get_out_data_from_opts``). Layers outside every loop with no choice upstream carry no beam
in either pass, so neither pass needs to compute them.
"""

from __future__ import annotations

from collections.abc import Mapping

from .beams import SearchBeam
from .structure import Structure

__all__ = ["beamless_outside_loops", "rec_output_template", "rec_output_templates"]


def beamless_outside_loops(s: Structure) -> frozenset[str]:
    """Layers outside every loop with no choice upstream: no beam in any pass, nothing to compute.
    (A layer registered as extern data could carry a beam past the graph: then none are.)"""
    nd = s.nodes
    if any(d.get("options", {}).get("register_as_extern_data") for d in nd.values()):
        return frozenset()
    todo = [n for n in s.order if nd[n]["class"] in ("choice", "decide_keep_beam")]
    downstream: set[str] = set(todo)
    while todo:
        for nxt in s.users[todo.pop()]:
            if nxt not in downstream:
                downstream.add(nxt)
                todo.append(nxt)
    return frozenset(n for n in s.order if n not in downstream and s.rec_of(n) is None
                     and nd[n]["class"] != "rec")


def rec_output_templates(s: Structure, beam: Mapping[str, SearchBeam | None],
                         chosen: Mapping[str, SearchBeam | None],
                         replayed: frozenset[str] = frozenset()) -> dict[str, SearchBeam | None]:
    """Each rec layer's own beam (:func:`rec_output_template`), where it has one; for the loops in
    ``replayed`` (:mod:`.template_order` replayed their template construction) the unit output's
    template as that replay leaves it."""
    out: dict[str, SearchBeam | None] = {}
    for rec in s.children:
        if rec in replayed:
            inner = s.unit_output(rec)
            if s.nodes[rec]["class"] == "rec" and inner is not None and beam.get(inner) is not None:
                out[rec] = beam[inner]
            continue
        template = rec_output_template(s, rec, beam, chosen)
        if template is not None:
            out[rec] = template
    return out


def rec_output_template(s: Structure, rec: str, beam: Mapping[str, SearchBeam | None],
                        chosen: Mapping[str, SearchBeam | None]) -> SearchBeam | None:
    """A rec layer's own beam: its inner ``output`` template's beam as the template pass leaves it
    (``beam``, ``chosen``: the template pass's tables); what another loop's templates see of it
    (``base:rec``: the rec layer is built for real before a later loop's templates). In the first
    pass the frame's oldest choice is
    built before the ``prev:`` layers it reads are initialised, so with two or more choices in a frame
    its beam has no dependency there (``decide_keep_beam`` layers do not count) (e.g. ``output/output_1 <- output/output_0``, no ``prev:`` link);
    the same when the unit's ``output`` is not itself a choice (``output = copy(label)`` gives
    ``output/label``). Only a unit ``output`` that is the frame's single choice keeps its ``prev:``
    link (``output/output <- output/prev:output``)."""
    nd = s.nodes
    inner = s.unit_output(rec)
    if nd[rec]["class"] != "rec" or inner is None:
        return None
    template = beam.get(inner)
    if template is None:
        return None
    frame = template.frame_walk()
    choices = chosen.get(inner)
    # ``ChoiceLayer`` templates only: a ``decide_keep_beam`` template keeps its source's beam
    # as dependency (``DecideKeepBeamLayer.get_out_data_from_opts``), prev: link included
    in_frame = [c for c in choices.walk() if not c.is_prev_frame
                and nd.get(c.name, {}).get("class") == "choice"] if choices else []
    # only this loop's own choices are rebuilt: a beam the loop reads from outside (a loop over a
    # beamed sequence) stays as it is
    if (len(in_frame) >= 2 or nd[inner]["class"] != "choice") and frame and frame[0].name.startswith(rec + "/"):
        rebuilt: SearchBeam | None = None
        for old in reversed(frame):
            if rebuilt is None and nd.get(old.name, {}).get("class") == "decide_keep_beam":
                if not in_frame:
                    rebuilt = old  # its template takes its source's beam as is, prev: link included
                # below the frame's oldest choice it is built with that choice, before the prev:
                # values are: no beam, no place in the chain
                continue
            rebuilt = SearchBeam(old.name, old.size, rebuilt, old.next_frame)
        template = rebuilt
    return template
