"""Checks: what a layer reads by name that search does not give it.

Layer names, targets included, are looked up while RETURNN makes the templates
(``transform_config_dict``: ``LayerNotFound``); extern data read by name inside a decoder loop is the
whole sequence in search (only the loop's own input is sliced per frame).
"""

from __future__ import annotations

from ..analysis.construction import Construction
from .registry import Raised, rule
from .shapes import one_frame_of_loop_input


@rule('SG116', 'extern data read inside the search loop',
      'Inside the loop, search does not slice this data per frame (trains fine, search breaks): {layer} '
      'gets the whole sequence.',
      "Do not read targets or extern data inside the decoder loop in search; use the choice's output "
      'instead.')
def data_read_in_loop(c: Construction) -> dict[str, str]:
    """In search, ``data:<key>`` inside a loop that does not run over that data is the whole
    sequence, not a frame: the extra time axis reaches the choice, which asserts its input shape."""
    out = {}
    for node in c.order:
        rec = c.rec_of(node)
        if rec is None or not c.is_search_choice(node):
            continue
        reader = _frame_ancestor_reading_data(c, node, rec, set())
        if reader:
            out[node] = (f"AssertionError: the choice's input has an extra time axis: {reader} reads "
                         "extern data inside the loop, which search does not slice per frame")
    return out


def _frame_ancestor_reading_data(c: Construction, node: str, rec: str, seen: set[str]) -> str | None:
    if node in seen:
        return None
    seen.add(node)
    for src, _, form, _ in c.nodes[node].get("inputs", []):
        if form == "data" and c.nodes[src]["node_kind"] == "data" and \
                c.edge(src, node)["ref"] not in ("data", "data:source") and \
                not one_frame_of_loop_input(c, node, rec, src):
            return node
        if form != "prev" and c.rec_of(src) == rec and c.placement(src) in ("loop", "input"):
            found = _frame_ancestor_reading_data(c, src, rec, seen)
            if found:
                return found
    return None


@rule("SG117", "reference to a layer that does not exist",
      "{layer} reads {name!r}, which is neither a layer of its network nor available in search (targets "
      "are not layers there).",
      "Fix the name, or use the 'data:{name}' form where the data exists.")
def missing_layer(c: Construction) -> dict[str, Raised]:
    """A reference to no layer (the graph builder keeps it as a ``missing`` node): ``LayerNotFound``."""
    out: dict[str, Raised] = {}
    for node in c.order if c.graph.graph.get("missing") else ():
        for src, _, _, _ in c.nodes[node].get("inputs", []):
            if c.nodes[src]["node_kind"] == "missing" and node not in out:
                name = c.nodes[src]["local"]
                out[node] = Raised(f"LayerNotFound: layer {name!r} not found (searched from {node})",
                                   names={"name": name})
    return out
