"""`LayerGraph` (``searchgraph.graph.layergraph``) answers like the networkx.DiGraph it converts to.

The analysis runs on a LayerGraph to spare ``searchgraph beams`` networkx's import; every stage also
accepts a networkx DiGraph. These tests hold the two to the same answers on hand-made graphs (on
every network of the shared corpus: ``test_corpus_layergraph.py``).
"""

from __future__ import annotations

import itertools
import random

import networkx as nx

from searchgraph.graph.layergraph import LayerGraph, as_networkx, shortest_path

from .graph_support import assert_same_api


def test_building_and_reading_match_networkx() -> None:
    lg, g = LayerGraph(source="s"), nx.DiGraph(source="s")
    rng = random.Random(0)
    for _ in range(300):
        u, v = f"n{rng.randrange(40)}", f"n{rng.randrange(40)}"
        attrs = {"kind": rng.choice(["from", "prev", "base"]), "w": rng.random()}
        if rng.random() < 0.2:
            lg.add_node(u, depth=rng.randrange(3))
            g.add_node(u, **lg.nodes[u])
        else:
            lg.add_edge(u, v, **attrs)
            g.add_edge(u, v, **attrs)
    assert_same_api(lg, g)
    assert_same_api(lg, lg.to_networkx())
    assert as_networkx(g) is g


def test_edge_data_is_shared_between_both_directions() -> None:
    lg = LayerGraph()
    lg.add_edge("a", "b", kind="from")
    lg.edges["a", "b"]["kind"] = "prev"
    assert lg.pred["b"]["a"]["kind"] == "prev"


def test_shortest_path_is_a_shortest_directed_path() -> None:
    rng = random.Random(1)
    g = nx.gnp_random_graph(60, 0.05, seed=2, directed=True)
    lg = LayerGraph()
    for n in g:
        lg.add_node(str(n))
    for u, v in g.edges:
        lg.add_edge(str(u), str(v))
    for _ in range(200):
        s, t = rng.randrange(60), rng.randrange(60)
        path = shortest_path(lg, str(s), str(t))
        if not nx.has_path(g, s, t):
            assert path is None
            continue
        assert path is not None and path[0] == str(s) and path[-1] == str(t)
        assert len(path) - 1 == nx.shortest_path_length(g, s, t)
        assert all(lg.has_edge(a, b) for a, b in itertools.pairwise(path))
