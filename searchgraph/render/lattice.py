"""The backtracking lattice of a recorded search (:class:`~searchgraph.search.trace.SearchTrace`) as DOT.

One node per (batch entry, frame, choice, hypothesis), labelled with its label and beam score; an
edge from the hypothesis it extends (``src_beams``); one band per frame and, when a frame has
several choices, one band per choice inside it. The final n-best paths
(:class:`~searchgraph.search.backtrack.BacktrackResult`) are drawn bold, the best one strongest; ended
hypotheses (the end flags) are grey with a double border; hypotheses no final path passes through
are faded. Pure: no ``dot`` is run here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dot import attrs, lines, meta_comment, quote

__all__ = ["lattice_dot"]

BEST = "#d62728"
FINAL = "#1f5fbf"
FADED = "#b0b0b0"


def _local(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def lattice_dot(trace: Any, result: Any = None) -> str:
    """The lattice of ``trace`` as DOT source (byte-identical for the same input).

    Parameters
    ----------
    trace : a :class:`~searchgraph.search.trace.SearchTrace`.
    result : its :class:`~searchgraph.search.backtrack.BacktrackResult` (computed when not given): the final
        hypotheses whose paths are highlighted, with their lengths and scores.

    Examples
    --------
    >>> import numpy as np
    >>> from searchgraph.search.trace import SearchTrace
    >>> lab = np.array([[[5, 6]], [[7, 8]]])
    >>> tr = SearchTrace.from_arrays("output", ["output/output"], {"output/output": lab},
    ...                              {"output/output": np.array([[[0, 0]], [[1, 0]]])},
    ...                              {"output/output": lab * -1.0})
    >>> dot = lattice_dot(tr)
    >>> '"b0:start:0" -> "b0:t0:output/output:1"' in dot
    True
    """
    from ..search.backtrack import backtrack
    from ..search.vocab import target_vocab

    vocab = target_vocab(trace.meta)
    if result is None:
        result = backtrack(trace)
    choices = list(trace.choices)
    several = len(choices) > 1
    t_max, batch = trace.frames, trace.batch
    latest = trace.latest_choice
    k_final = trace.beam_sizes[latest]
    end_at = trace.end_index

    def node(b: int, t: int, j: int, k: int) -> str:
        return f"b{b}:t{t}:{choices[j]}:{k}"

    ids: dict[str, str] = {}
    inputs: dict[str, str] = {}
    body: list[str] = []
    edges: list[tuple[str, str, str | None, float | None]] = []
    for b in range(batch):
        on_path: dict[tuple[int, int, int], int] = {}  # (t, j, k) -> best final rank through it
        for rank in range(k_final - 1, -1, -1):
            for j, c in enumerate(choices):
                idx = result.beam_indices[c]
                for t in range(t_max):
                    on_path[(t, j, int(idx[t, b, rank]))] = rank
        cluster = [f"label={quote(f'batch entry {b}')};", "labeljust=l;", f"color={quote('#999999')};"]
        starts = sorted({int(s) for s in np.asarray(trace.src_beams[choices[0]][0, b]).ravel()}) \
            if t_max else []
        for s in starts:
            name = f"b{b}:start:{s}"
            ids[name] = f"h{len(ids)}"
            cluster.append(quote(name) + attrs({
                "id": ids[name], "label": "start" if len(starts) == 1 else f"start {s}",
                "shape": "circle", "style": "filled", "fillcolor": "#eeeeee", "fontsize": 8,
                "tooltip": f"batch entry {b}: the initial hypothesis {s}"}) + ";")
        for t in range(t_max):
            band = [f"label={quote(f't={t}')};", f"style={quote('rounded')};", f"color={quote('#dddddd')};",
                    "fontsize=9;"]
            for j, c in enumerate(choices):
                labels = trace.labels[c][t, b]
                scores = trace.scores[c][t, b]
                srcs = trace.src_beams[c][t, b]
                ended = trace.end_flags[t, b] if end_at == j and trace.end_flags is not None else None
                stmts = []
                for k in range(trace.beam_sizes[c]):
                    name = node(b, t, j, k)
                    ids[name] = f"h{len(ids)}"
                    rank = on_path.get((t, j, k))
                    is_end = bool(ended[k]) if ended is not None else False
                    word = vocab.token(int(labels[k])) if vocab is not None else str(int(labels[k]))
                    label = f"{word}\n{float(scores[k]):.2f}"
                    if t == t_max - 1 and j == len(choices) - 1:
                        length = int(result.lengths[b, k])
                        label += f"\n#{k + 1} len {length}"
                    tip = (f"batch {b}, frame {t}, {c}, hypothesis {k}: label {int(labels[k])}"
                           + (f" {word!r}, " if vocab is not None else ", ") +
                           f"score {float(scores[k]):.4f}" + (", ended" if is_end else "")
                           + (f"; on final hypothesis #{rank + 1}" if rank is not None else "; pruned"))
                    color = BEST if rank == 0 else FINAL if rank is not None else FADED
                    stmts.append(quote(name) + attrs({
                        "id": ids[name], "label": label, "shape": "box",
                        "style": "rounded,filled" + (",bold" if rank is not None else ""),
                        "fillcolor": "#dcdcdc" if is_end else ("#ffffff" if rank is None else "#eef4fb"),
                        "peripheries": 2 if is_end else None, "color": color,
                        "fontcolor": "#000000" if rank is not None else "#888888",
                        "penwidth": 2.0 if rank == 0 else None, "tooltip": tip}) + ";")
                    if j > 0:
                        parent = node(b, t, j - 1, int(srcs[k]))
                    elif t > 0:
                        parent = node(b, t - 1, len(choices) - 1, int(srcs[k]))
                    else:
                        parent = f"b{b}:start:{int(srcs[k])}"
                    inputs[name] = parent
                    if rank is not None:  # the parent is on that final path too
                        edges.append((parent, name, BEST if rank == 0 else FINAL, 2.0 if rank == 0 else 1.4))
                    else:
                        edges.append((parent, name, None, None))
                group = ["rank=same;", *stmts]
                if several:
                    band.append(f"subgraph {quote(f'cluster:b{b}:t{t}:{c}')} {{")
                    band.extend(lines([f"label={quote(_local(c))};", f"color={quote('#eeeeee')};",
                                       "fontsize=8;", *group], 1))
                    band.append("}")
                else:
                    band.append("{")
                    band.extend(lines(group, 1))
                    band.append("}")
            cluster.append(f"subgraph {quote(f'cluster:b{b}:t{t}')} {{")
            cluster.extend(lines(band, 1))
            cluster.append("}")
        body.append(f"subgraph {quote(f'cluster:b{b}')} {{")
        body.extend(lines(cluster, 1))
        body.append("}")
    for i, (src, dst, color, width) in enumerate(edges):
        body.append(f"{quote(src)} -> {quote(dst)}" + attrs({
            "id": f"e{i}", "color": color or "#c8c8c8", "penwidth": width}) + ";")
    body.extend(meta_comment(_meta(ids, inputs, edges)))
    title = f"search lattice of {trace.rec}: {t_max} frames, batch {batch}, " + \
        ", ".join(f"{c} ×{trace.beam_sizes[c]}" for c in choices)
    head = [(f"graph [rankdir=LR, fontname={quote('Helvetica')}, fontsize=11, newrank=true, "
             f"ranksep=0.35, nodesep=0.08, label={quote(title)}, labelloc=t, tooltip={quote(title)}];"),
            f"node [fontname={quote('Helvetica')}, fontsize=8, margin={quote('0.04,0.02')}, height=0.3];",
            "edge [arrowsize=0.5];"]
    return "\n".join(["digraph lattice {", *lines([*head, *body], 1), "}"]) + "\n"


def _meta(ids: dict[str, str], inputs: dict[str, str], edges: list[tuple[str, str, Any, Any]]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for name, nid in ids.items():
        path = [nid]
        cur = name
        while cur in inputs:
            cur = inputs[cur]
            path.append(ids[cur])
        parent = inputs.get(name)
        nodes[nid] = {"name": name, "inputs": [ids[parent]] if parent else [], "path": path}
    return {"kind": "lattice", "nodes": nodes,
            "edges": {f"e{i}": [ids[s], ids[d]] for i, (s, d, _, _) in enumerate(edges)}}
