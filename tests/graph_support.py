"""Holding a :class:`~searchgraph.graph.layergraph.LayerGraph` to the networkx.DiGraph it converts to."""

from __future__ import annotations

import networkx as nx

from searchgraph.graph.layergraph import LayerGraph


def assert_same_api(lg: LayerGraph, g: nx.DiGraph) -> None:
    assert isinstance(g, nx.DiGraph)
    assert lg.graph == g.graph
    assert list(lg) == list(g) and len(lg) == len(g) == lg.number_of_nodes()
    assert list(lg.nodes(data=True)) == list(g.nodes(data=True))
    assert list(lg.nodes(data="class")) == list(g.nodes(data="class"))
    assert list(lg.edges) == list(g.edges) and len(lg.edges) == len(g.edges)
    assert list(lg.edges(data=True)) == list(g.edges(data=True))
    assert lg.number_of_edges() == g.number_of_edges()
    for node in g:
        assert node in lg and lg.has_node(node) and lg.nodes[node] == g.nodes[node]
        assert lg.nodes.get(node) == g.nodes.get(node)
        assert list(lg.predecessors(node)) == list(g.predecessors(node))
        assert list(lg.successors(node)) == list(g.successors(node))
        assert list(lg.in_edges(node, data=True)) == list(g.in_edges(node, data=True))
        assert list(lg.out_edges(node)) == list(g.out_edges(node))
        assert dict(lg[node]) == dict(g[node]) and dict(lg.pred[node]) == dict(g.pred[node])
    for u, v in g.edges:
        assert lg.has_edge(u, v) and (u, v) in lg.edges and lg.edges[u, v] == g.edges[u, v]
    assert not lg.has_edge("no such", "layer") and ("no such", "layer") not in lg.edges
    assert "no such" not in lg and lg.nodes.get("no such") is None
    assert list(lg.in_edges()) == list(g.in_edges()) and list(lg.out_edges()) == list(g.out_edges())
