"""The structure two loads of a network must share: layers at the same paths, classes, references."""

from __future__ import annotations

from typing import Any

from searchgraph import build_graph
from searchgraph.loading.netspec import NetSpec


def structure(spec: NetSpec) -> tuple[dict[str, Any], set[tuple[str, str, str]]]:
    """Every node of the layer graph with its class, and every reference edge with its kind."""
    g = build_graph(spec, strict=False)
    nodes = {name: g.nodes[name].get("class") for name in g}
    edges = {(src, dst, ",".join(data.get("kinds") or [str(data.get("kind"))])) for src, dst, data in g.edges(data=True)}
    return nodes, edges


def differences(a: NetSpec, b: NetSpec) -> list[str]:
    """What differs between two networks' structures, one line per layer or reference (empty: equal)."""
    nodes_a, edges_a = structure(a)
    nodes_b, edges_b = structure(b)
    lines = [f"layer {n}: {nodes_a.get(n, '<absent>')} vs {nodes_b.get(n, '<absent>')}"
             for n in sorted(set(nodes_a) | set(nodes_b)) if nodes_a.get(n, "<absent>") != nodes_b.get(n, "<absent>")]
    lines += [f"reference only in the first: {e}" for e in sorted(edges_a - edges_b)]
    lines += [f"reference only in the second: {e}" for e in sorted(edges_b - edges_a)]
    return lines
