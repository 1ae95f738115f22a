"""Recorded loop layers along one final hypothesis (the attention of a hypothesis, frame by frame).

``trace.records[name]`` holds a layer's value per frame in the latest choice's beam of that frame
(:func:`~searchgraph.search.returnn.capture_search` with ``record=``). A final hypothesis passes
through one hypothesis of that beam per frame (:attr:`BacktrackResult.beam_indices`); these are its
values.
"""

from __future__ import annotations

import numpy as np

from .backtrack import BacktrackResult, finalize_scores
from .trace import SearchTrace

__all__ = ["attention_matrix", "hypothesis_scores", "hypothesis_values"]


def hypothesis_scores(trace: SearchTrace, result: BacktrackResult) -> np.ndarray:
    """``[batch, K]``: the final scores as RETURNN reports them: length-normalised (unless the trace
    says it was off) by each batch's divisor (``meta["score_divisors"]`` of a merged trace)."""
    if not trace.meta.get("length_normalization", True):
        return result.scores
    divisors = trace.meta.get("score_divisors")
    if isinstance(divisors, list) and len(divisors) == trace.batch:
        return (result.scores / np.asarray(divisors, result.scores.dtype)[:, None]).astype(result.scores.dtype)
    return finalize_scores(result.scores, result.lengths, trace.include_eos)


def hypothesis_values(trace: SearchTrace, result: BacktrackResult, name: str, entry: int, k: int
                      ) -> np.ndarray:
    """``[length, ...]``: layer ``name``'s value at every frame of final hypothesis ``k`` of ``entry``."""
    if name not in trace.records:
        raise KeyError(f"{name!r} was not recorded (recorded: {', '.join(trace.records) or 'none'})")
    latest = trace.latest_choice
    length = min(int(result.lengths[entry, k]), trace.frames)
    idx = result.beam_indices[latest][:length, entry, k]
    return trace.records[name][np.arange(length), entry, idx]


def attention_matrix(trace: SearchTrace, result: BacktrackResult, name: str, entry: int, k: int,
                     input_key: str = "data") -> np.ndarray:
    """``[output labels, input frames]``: the attention weights of final hypothesis ``k``, cut to the
    entry's input length; extra axes (heads, RETURNN's trailing 1) are averaged."""
    values = hypothesis_values(trace, result, name, entry, k)
    if values.ndim < 2:
        raise ValueError(f"{name!r} has no input axis: one value per frame")
    lens = (trace.meta.get("input_lengths") or {}).get(input_key)
    if lens is not None and values.ndim > 2:  # the input axis: the one as long as the longest input
        axes = [a for a in range(1, values.ndim) if values.shape[a] == max(lens)]
        if axes:
            values = np.moveaxis(values, axes[0], 1)
    if values.ndim > 2:
        values = values.reshape(values.shape[0], values.shape[1], -1).mean(axis=2)
    if lens is not None:
        values = values[:, : int(lens[entry])]
    return values
