"""Captures of many dataset sequences: in batches, with progress, saved as they finish, resumable.

:func:`capture_sequences` searches batches of a config dataset's sequences in one RETURNN process
(:func:`~searchgraph.search.returnn.capture_batches`) and merges the traces into one (:func:`merge_traces`: batch entries side
by side, shorter searches padded with ended frames, which change no hypothesis). With ``save``, the
trace file is rewritten (atomically) after every batch; run again with the same file, the sequences
it holds are not searched again and the new ones are added.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .returnn import CaptureError, capture_batches, checkpoint_path
from .trace import SearchTrace

__all__ = ["Progress", "capture_sequences", "merge_traces"]

#: What must agree for a saved trace to be extended (else it is another capture).
_SAME = ("source", "checkpoint", "dataset", "target")


@dataclass(frozen=True)
class Progress:
    """After each batch: sequences done (of ``total``), seconds since the start, seconds left (estimate)."""

    done: int
    total: int
    elapsed: float
    left: float | None
    resumed: int = 0


def _pad_frames(arr: np.ndarray, frames: int, fill: Any) -> np.ndarray:
    if arr.shape[0] == frames:
        return arr
    pad = np.empty((frames - arr.shape[0],) + arr.shape[1:], arr.dtype)
    pad[...] = fill
    return np.concatenate([arr, pad])


def merge_traces(traces: Sequence[SearchTrace]) -> SearchTrace:
    """One trace with the batch entries of ``traces`` in order (the same loop, choices and beams).

    A shorter trace is padded to the longest one's frames with frames in which every hypothesis
    keeps its label and score, extends itself and is ended: backtracking gives the same sequences,
    lengths and scores. Needs one choice per frame or equal beam sizes.
    """
    first = traces[0]
    if len(traces) == 1:
        return first
    for tr in traces[1:]:
        if (tr.rec, tr.choices, tr.beam_sizes, tr.end_choice, tr.include_eos, sorted(tr.records)) != (
                first.rec, first.choices, first.beam_sizes, first.end_choice, first.include_eos,
                sorted(first.records)):
            raise ValueError("traces of different searches cannot be merged")
    if len(first.choices) > 1 and len(set(first.beam_sizes.values())) > 1:
        raise ValueError("traces of chained choices with different beam sizes cannot be padded")
    frames = max(tr.frames for tr in traces)

    def cat(get: Callable[[SearchTrace], np.ndarray], fill: Callable[[np.ndarray], Any]) -> np.ndarray:
        return np.concatenate([_pad_frames(get(tr), frames, fill(get(tr))) for tr in traces], axis=1)

    labels, src_beams, scores = {}, {}, {}
    for c in first.choices:
        k = first.beam_sizes[c]
        labels[c] = cat(lambda tr, c=c: tr.labels[c], lambda a: a[-1])
        src_beams[c] = cat(lambda tr, c=c: tr.src_beams[c], lambda a, k=k: np.arange(k, dtype=a.dtype))
        scores[c] = cat(lambda tr, c=c: tr.scores[c], lambda a: a[-1])
    end_flags = None
    if first.end_flags is not None:
        end_flags = cat(lambda tr: tr.end_flags, lambda a: True)
    records = {n: _cat_records([tr.records[n] for tr in traces], frames) for n in first.records}
    meta = dict(first.meta)
    for key in ("seqs", "seq_tags"):
        if all(isinstance(tr.meta.get(key), list) for tr in traces):
            meta[key] = [x for tr in traces for x in tr.meta[key]]
    meta["batch"] = sum(tr.batch for tr in traces)
    # RETURNN divides a batch's final scores by its longest hypothesis' length (+1 without include_eos):
    # a merged trace keeps each part's divisor per entry
    meta["score_divisors"] = [d for tr in traces for d in _divisors(tr)]
    lens: dict[str, list[Any]] = {}
    for tr in traces:
        for key, value in (tr.meta.get("input_lengths") or {}).items():
            lens.setdefault(key, []).extend(value or [])
    meta["input_lengths"] = lens
    meta["inputs_labels"] = _cat_lists([tr.meta.get("inputs_labels") or {} for tr in traces])
    meta["returnn_sequences"] = _cat_lists([tr.meta.get("returnn_sequences") or {} for tr in traces], axis=2)
    opt = {}
    for name in ("final_lengths", "final_scores"):
        if all(getattr(tr, name) is not None for tr in traces):
            opt[name] = np.concatenate([getattr(tr, name) for tr in traces])
    return SearchTrace.from_arrays(first.rec, first.choices, labels, src_beams, scores,
                                   beam_sizes=first.beam_sizes, end_flags=end_flags,
                                   end_choice=first.end_choice, include_eos=first.include_eos,
                                   meta=meta, records=records, **opt)


def _divisors(trace: SearchTrace) -> list[int]:
    if isinstance(trace.meta.get("score_divisors"), list):
        return list(trace.meta["score_divisors"])
    from .backtrack import backtrack

    lengths = trace.final_lengths if trace.final_lengths is not None else backtrack(trace).lengths
    return [int(lengths.max()) + (0 if trace.include_eos else 1)] * trace.batch


def _cat_records(parts: list[np.ndarray], frames: int) -> np.ndarray:
    """``[T, B, K, ...]`` parts padded with zeros in every axis past the batch (frames, input length)."""
    shape = [frames, sum(p.shape[1] for p in parts)] + [max(p.shape[i] for p in parts)
                                                         for i in range(2, parts[0].ndim)]
    out = np.zeros(shape, parts[0].dtype)
    b = 0
    for p in parts:
        out[tuple([slice(0, p.shape[0]), slice(b, b + p.shape[1])] + [slice(0, n) for n in p.shape[2:]])] = p
        b += p.shape[1]
    return out


def _cat_lists(parts: list[dict[str, Any]], axis: int = 1) -> dict[str, Any]:
    """Per key, nested lists ``[B, ..., T]`` side by side in the batch, padded with -1 along ``axis``."""
    out: dict[str, Any] = {}
    for key in parts[0]:
        if not all(key in p for p in parts):
            continue
        arrays = [np.asarray(p[key]) for p in parts]
        if any(a.ndim != arrays[0].ndim or a.ndim <= axis for a in arrays):
            continue
        size = max(a.shape[axis] for a in arrays)
        padded = []
        for a in arrays:
            width = [(0, 0)] * a.ndim
            width[axis] = (0, size - a.shape[axis])
            padded.append(np.pad(a, width, constant_values=-1))
        out[key] = np.concatenate(padded).tolist()
    return out


def capture_sequences(config: Any, dataset: str, seqs: Sequence[int], *, batch: int,
                      checkpoint: str | os.PathLike[str] | None = None, record: Any = None,
                      save: str | os.PathLike[str] | None = None, force: bool = False,
                      progress: Callable[[Progress], None] | None = None, **capture: Any) -> SearchTrace:
    """Search ``seqs`` of ``dataset`` in batches of ``batch`` and return them as one trace.

    With ``save``, the merged trace is written there after every batch. If ``save`` holds a trace of
    the same config, checkpoint and dataset, its sequences are kept and not searched again (without
    ``force``, a file of another capture is an error; with it, it is replaced).
    """
    from ..loading import load

    spec = load(config)
    ckpt = checkpoint_path(spec, checkpoint) if checkpoint is not None else None
    parts: list[SearchTrace] = []
    done: list[int] = []
    if save is not None and Path(save).exists():
        old = SearchTrace.load(save)
        want = {"source": spec.source, "checkpoint": ckpt, "dataset": dataset}
        same = all(old.meta.get(k) == v for k, v in want.items()) and isinstance(old.meta.get("seqs"), list)
        if same:
            parts, done = [old], list(old.meta["seqs"])
        elif not force:
            raise CaptureError("the file holds another capture (config, checkpoint or dataset differ)",
                               where=str(save), hint="name another file, or pass --force to replace it")
    todo = [int(s) for s in seqs if int(s) not in set(done)]
    start, total = time.monotonic(), len(todo)
    batches = [todo[i:i + batch] for i in range(0, total, batch)]
    finished = [0]

    def on_batch(j: int, trace: SearchTrace, _final: Any) -> None:
        parts[:] = [merge_traces(parts + [trace])]
        if save is not None:
            parts[0].save(save, overwrite=True)
        finished[0] += len(batches[j])
        if progress is not None:
            elapsed, n = time.monotonic() - start, finished[0]
            progress(Progress(done=n, total=total, elapsed=elapsed, left=elapsed / n * (total - n),
                              resumed=len(done)))

    if batches:
        capture_batches(spec, dataset, batches, on_batch, checkpoint=ckpt, record=record, **capture)
    if not parts:
        raise CaptureError("no sequences to search", where=dataset, hint="--seq I-J")
    return parts[0]
