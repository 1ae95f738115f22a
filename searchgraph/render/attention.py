"""Heat maps of recorded attention: per final hypothesis, output tokens against input frames.

Drawn with matplotlib (Agg, no display); :func:`attention_image` gives PNG or SVG bytes,
:func:`write_attention` writes them atomically (never over an existing file without ``force``).
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .output import RenderError, write_bytes

__all__ = ["attention_image", "attention_panel", "hypothesis_heatmaps", "write_attention"]


def hypothesis_heatmaps(trace: Any, result: Any, name: str, entry: int, best: int = 1
                        ) -> list[dict[str, Any]]:
    """The ``best`` final hypotheses of ``entry`` (best first): matrix, output and input tokens, score."""
    from ..search.records import attention_matrix, hypothesis_scores
    from ..search.vocab import input_vocab, target_vocab

    scores = hypothesis_scores(trace, result)
    out_vocab, in_vocab = target_vocab(trace.meta), input_vocab(trace.meta)
    inputs = (trace.meta.get("inputs_labels") or {}).get("data")
    maps = []
    for k in np.argsort(-scores[entry], kind="stable")[:best]:
        k = int(k)
        matrix = attention_matrix(trace, result, name, entry, k)
        labels = result.sequences[trace.latest_choice][entry, k, : matrix.shape[0]]
        rows = out_vocab.tokens(labels) if out_vocab else [str(int(x)) for x in labels]
        cols = [str(i) for i in range(matrix.shape[1])]
        if inputs is not None and in_vocab is not None:
            cols = in_vocab.tokens(inputs[entry][: matrix.shape[1]])
        maps.append({"k": k, "score": float(scores[entry, k]), "matrix": matrix, "rows": rows, "cols": cols})
    return maps


def attention_image(maps: list[dict[str, Any]], fmt: str = "png", title: str = "") -> bytes:
    """One heat map per hypothesis side by side (rows: output tokens, columns: input frames)."""
    if fmt not in ("png", "svg"):
        raise RenderError(f"unknown image format {fmt!r}", hint="use .png or .svg")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    width = sum(max(2.5, 0.35 * len(m["cols"]) + 1.2) for m in maps)
    height = max(2.5, 0.3 * max(len(m["rows"]) for m in maps) + 1.4)
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, m in zip(axes, maps):
        im = ax.imshow(m["matrix"], aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_yticks(range(len(m["rows"])), m["rows"], fontsize=8)
        ax.set_xticks(range(len(m["cols"])), m["cols"], fontsize=8, rotation=90 if len(m["cols"]) > 12 else 0)
        ax.set_xlabel("input frame")
        ax.set_title(f"hyp {m['k']}, score {m['score']:.3f}", fontsize=9)
    axes[0].set_ylabel("output token")
    fig.colorbar(im, ax=list(axes), fraction=0.05)
    if title:
        fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buf.getvalue()


def write_attention(maps: list[dict[str, Any]], path: str | os.PathLike[str], *, force: bool = False,
                    title: str = "") -> Path:
    """Write the heat maps to ``path`` (``.png`` or ``.svg``), atomically."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise RenderError("an attention image is .png or .svg", where=str(path))
    return write_bytes(attention_image(maps, fmt, title), path, force=force)


def attention_panel(trace: Any, result: Any = None, best: int = 3) -> str:
    """HTML for the trace's page: per recorded layer and batch entry, the best hypotheses' heat maps
    (PNG, inline)."""
    from ..search.backtrack import backtrack

    result = result if result is not None else backtrack(trace)
    tags = trace.meta.get("seq_tags") or []
    parts = ["<summary>attention: output tokens × input frames, best hypotheses</summary>"]
    for name in trace.records:
        for b in range(trace.batch):
            try:
                maps = hypothesis_heatmaps(trace, result, name, b, best=min(best, result.lengths.shape[1]))
            except ValueError:
                continue
            title = f"{name}, batch entry {b}" + (f" ({tags[b]})" if b < len(tags) else "")
            data = base64.b64encode(attention_image(maps, "png", title)).decode("ascii")
            parts.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
    return "".join(parts)
