"""The order in which RETURNN builds a searching loop's layers for real, in one frame.

``_SubnetworkRecCell._construct`` walks the unit depth first: first the needed outputs (``output``,
``end``, the output layers and what moved-out output layers read), sorted by name, then the layers
the templates asked for as ``prev:`` (``prev_layers_needed``), sorted; each layer's
``transform_config_dict`` asks for its inputs (``explicit_search_sources`` of a choice, ``from``, the
other layer options, ``layer:`` targets) before the layer itself is made. A ``prev:`` input is the
previous frame's template copy and builds nothing.

The order matters where a layer's inputs carry the search choices of two previous frames:
``SearchChoices.compare`` then compares the two choices of the current frame
(``get_normalized_layer``), the one already built as a real layer, the other still as its template,
and the template's chain of source choices holds the older choice's template, not the real layer: the
two do not compare ("Cannot compare search choices").
"""

from __future__ import annotations

from collections.abc import Mapping

from .structure import Structure

__all__ = ["frame_positions"]


def frame_positions(s: Structure, where: Mapping[str, str], every: bool = False,
                    askers: dict[str, str] | None = None) -> dict[str, int]:
    """Node -> its position in its searching loop's real construction of one frame (loop layers of
    every unit whose layers are built in the loop; without ``every``, only of units with two owners of
    search choices, whose choices of two frames can meet). ``askers``, where given, gets each node's
    layer under construction when it was built: the layer whose ``transform_config_dict`` first asked
    for it, or the rec layer for a needed output (what RETURNN names when a check right after the
    node's construction raises)."""
    out: dict[str, int] = {}
    for rec in [n for n in s.order if s.nodes[n]["class"] == "rec"]:
        members = [m for m in s.children.get(rec, ()) if where.get(m) == "loop"]
        if not every and sum(1 for m in members if s.owns_search_choices(m)) < 2:
            continue  # one owner of search choices: nothing to compare across frames
        out.update(_unit_order(s, rec, members, where, askers if askers is not None else {}))
    return out


def _unit_order(s: Structure, rec: str, members: list[str], where: Mapping[str, str],
                askers: dict[str, str]) -> dict[str, int]:
    nd = s.nodes
    in_loop = set(members)
    local = {m: nd[m]["local"] for m in members}
    needed = {m for m in members if local[m] == "output"
              or (local[m] == "end" and not s.known_length(rec))
              or nd[m]["options"].get("is_output_layer")
              or nd[m]["options"].get("need_last")
              or (s.eval_flag and nd[m]["options"].get("loss"))}
    # what a moved-out output layer reads in the loop is accumulated, so it is a needed output too
    for m in s.children.get(rec, ()):
        if where.get(m) == "output":
            needed |= {src for src, _, form in s.inputs(m) if src in in_loop and form != "prev"}
    order: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(node: str, asker: str) -> None:
        if node in order or node in visiting:
            return
        visiting.add(node)
        askers[node] = asker
        for src in _deps(s, node):
            if src in in_loop:
                visit(src, node)
        visiting.discard(node)
        order[node] = len(order)

    for node in sorted(needed, key=lambda m: local[m]):
        visit(node, rec)
    # then ``prev_layers_needed``: the layers whose previous frame is read (some only so), sorted
    prev_read = {src for m in members for src, _, form in s.inputs(m) if form == "prev" and src in in_loop}
    for node in sorted(prev_read, key=lambda m: local[m]):
        visit(node, rec)
    for node in sorted((m for m in members if m not in order), key=lambda m: local[m]):
        visit(node, rec)
    return order


def _deps(s: Structure, node: str) -> list[str]:
    """The current-frame inputs in the order ``transform_config_dict`` asks for them (``layer:``
    targets last)."""
    if s.nodes[node]["node_kind"] == "sub":
        return [s.parent(node)]
    ordered = s.asked_inputs(node) + [i for i in s.inputs(node) if i[1] == "target"]
    return [src for src, _, form in ordered if form != "prev"]
