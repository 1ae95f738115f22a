"""Backtracking a beam search into n-best sequences in TensorFlow.

Same semantics and results as the NumPy :func:`searchgraph.backtrack.backtrack` (RETURNN's
``RecLayer._opt_search_resolve`` and the in-loop ``seq_len`` bookkeeping,
``returnn-search-semantics.md`` §4.6, §6.4). Two methods:

* ``"doubling"`` (default): no loop over the frames. The per-frame maps from the latest beam of
  frame ``t`` to that of ``t - 1`` are built for all frames at once, their suffix compositions by
  pointer doubling (a ``tf.while_loop`` of ``ceil(log2 T)`` batched gathers), and the lengths from
  the end flags along each final hypothesis' path (a cumulative sum). A handful of ops whatever
  ``T`` is, at ``T log T`` work; it pays off where launching ops is what costs (graph mode).
* ``"scan"``: RETURNN's way, one backward :func:`tf.scan` over the frames for the beam indices and
  a forward :func:`tf.foldl` for the lengths; compiled with XLA (``jit_compile=True``) this is the
  fastest variant on a CPU (figures: ``bench/backtrack.py``).

Both work eagerly and inside :func:`tf.function` with unknown ``T`` and batch (see
:func:`backtrack_function`), on any device (nothing is pinned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import tensorflow as tf

from ..trace import SearchTrace

__all__ = ["METHODS", "TFBacktrackResult", "backtrack", "backtrack_function", "backtrack_tensors",
           "input_signature"]

#: The backtracking methods (see the module docstring).
METHODS = ("doubling", "scan")


class TFBacktrackResult(NamedTuple):
    """Resolved outputs as tensors; per-choice entries are tuples in frame order (oldest first).

    Attributes
    ----------
    sequences : tuple of tf.Tensor
        ``[batch, K_latest, T]`` label sequences per choice, the labels' dtype.
    beam_indices : tuple of tf.Tensor
        ``[T, batch, K_latest]`` per choice: the hypothesis of that choice's beam at frame ``t``
        each final hypothesis passes through (``src_beams``' dtype).
    lengths : tf.Tensor
        ``[batch, K_latest]`` int32.
    scores : tf.Tensor
        ``[batch, K_latest]``, the latest choice's last-frame beam scores.
    """

    sequences: tuple[tf.Tensor, ...]
    beam_indices: tuple[tf.Tensor, ...]
    lengths: tf.Tensor
    scores: tf.Tensor

    def by_choice(self, choices: Sequence[str]) -> dict[str, tf.Tensor]:
        """:attr:`sequences` keyed by choice name (``choices`` in frame order, e.g. ``trace.choices``)."""
        if len(choices) != len(self.sequences):
            raise ValueError(f"{len(choices)} choice names for {len(self.sequences)} sequences")
        return dict(zip(choices, self.sequences))


def _dim(t: tf.Tensor, axis: int) -> int | tf.Tensor:
    if t.shape.rank is not None and t.shape[axis] is not None:
        return int(t.shape[axis])
    return tf.shape(t)[axis]


def _check_config(n: int, end_index: int | None, has_end: bool) -> None:
    if n < 1:
        raise ValueError("backtrack needs at least one choice (labels and src_beams are empty)")
    if has_end != (end_index is not None):
        raise ValueError("end_flags and end_index must be given together (or both None)")
    if end_index is not None and not 0 <= end_index < n:
        raise ValueError(f"end_index {end_index} out of range for {n} choices")


def _beam_indices_doubling(src_beams: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, ...]:
    """Per choice ``[T, B, K_latest]`` beam indices by pointer doubling (see the module docstring)."""
    srcs = [tf.cast(s, tf.int32) for s in src_beams]
    step = srcs[-1]  # [T, B, K_latest]: latest beam of frame t -> latest beam of frame t-1
    for src in reversed(srcs[:-1]):
        step = tf.gather(src, step, batch_dims=2)
    t_max, k_last = tf.shape(step)[0], _dim(step, 2)
    ident = tf.broadcast_to(tf.range(k_last, dtype=tf.int32), tf.shape(step))
    # ext[t] maps frame t+1 -> frame t for t < T - 1; the last frame and the padding rows t >= T are
    # the identity, so composing with a row past the end changes nothing. The padding keeps every
    # loop variable's shape fixed (XLA-compilable), and all slices have the static size T.
    ext = tf.concat([step[1:], ident[:1], ident], axis=0)  # [2T, B, K]

    def body(shift: tf.Tensor, ext: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # path[t] <- path[t] ∘ path[t + shift], for every t at once
        head = tf.gather(ext[:t_max], tf.slice(ext, tf.stack([shift, 0, 0]), tf.shape(step)), batch_dims=2)
        out = tf.concat([head, ext[t_max:]], axis=0)
        out.set_shape(ext.shape)  # static T known: keep it (TF1 while_loop checks shape invariants)
        return shift * 2, out

    _, ext = tf.while_loop(lambda shift, _: shift < t_max, body, (tf.constant(1), ext))
    path = ext[:t_max]
    path.set_shape(step.shape)
    idx: list[Any] = [None] * len(srcs)
    idx[-1] = path
    for j in range(len(srcs) - 1, 0, -1):  # within the frame: into the previous choice's beam
        path = tf.gather(srcs[j], path, batch_dims=2)
        idx[j - 1] = path
    return tuple(tf.cast(i, s.dtype) for i, s in zip(idx, src_beams))


def _path_lengths(end_flags: tf.Tensor, end_path: tf.Tensor, include_eos: bool) -> tf.Tensor:
    """Lengths from the end flags along each final hypothesis' path (``searchgraph.backtrack.path_lengths``).

    A hypothesis ends at the first frame ``f`` whose flag is set on its path: its length is ``f``, or
    ``f + 1`` with ``include_eos`` (the frame that ends counts), ``T`` if it never ends. Computed as a
    minimum over the frames (a cumulative sum would be ``O(T^2)`` under XLA).
    """
    flags = tf.gather(tf.cast(end_flags, tf.bool), tf.cast(end_path, tf.int32), batch_dims=2)
    t_max = tf.shape(flags)[0]
    frame = tf.reshape(tf.range(t_max, dtype=tf.int32), [-1, 1, 1])
    first = tf.minimum(tf.reduce_min(tf.where(flags, frame, t_max), axis=0), t_max)  # t_max: no flag
    return tf.minimum(first + 1, t_max) if include_eos else first


def _beam_indices_scan(src_beams: tuple[tf.Tensor, ...],
                       labels: tuple[tf.Tensor, ...]) -> tuple[tuple[tf.Tensor, ...], tuple[tf.Tensor, ...]]:
    """Per choice ``[T, B, K_latest]`` beam indices and labels along them, by one backward scan over the
    frames (each frame's labels are picked in the loop: small gathers, no gather over ``[T, B, K]``)."""
    last = src_beams[-1]
    k_last = _dim(last, 2)
    init = tf.broadcast_to(tf.range(k_last, dtype=last.dtype)[None, :], tf.stack([tf.shape(last)[1], k_last]))
    lab_init = tuple(tf.zeros_like(init, dtype=lab.dtype) for lab in labels)

    def step(state: tuple[Any, ...], elems: tuple[tuple[tf.Tensor, ...], tuple[tf.Tensor, ...]]):
        srcs, labs = elems
        beams = state[0]  # [B, K_latest]: into the latest choice's beam of this frame
        idx: list[Any] = [None] * len(srcs)
        out: list[Any] = [None] * len(srcs)
        for j in reversed(range(len(srcs))):  # latest choice first
            idx[j] = beams
            out[j] = tf.gather(labs[j], beams, batch_dims=1)
            beams = tf.gather(tf.cast(srcs[j], beams.dtype), beams, batch_dims=1)  # into j's base beam
        return beams, tuple(idx), tuple(out)

    _, idx, seqs = tf.scan(step, (src_beams, labels), initializer=(init, (init,) * len(src_beams), lab_init),
                           reverse=True)
    return idx, seqs


def _lengths(src_beams: tuple[tf.Tensor, ...], end_flags: tf.Tensor, end_index: int,
             include_eos: bool) -> tf.Tensor:
    """RETURNN's ``seq_len`` in the latest choice's beam (see :func:`searchgraph.backtrack.seq_lengths`)."""
    last = src_beams[-1]
    shape = tf.stack([tf.shape(last)[1], _dim(last, 2), 2])
    init = tf.zeros(shape, tf.int32)  # [..., 0]: length, [..., 1]: ended; frame -1 is all-equal

    def hop(state: tf.Tensor, src: tf.Tensor) -> tf.Tensor:
        return tf.gather(state, src, batch_dims=1)  # length and flag in one gather

    def step(state: tf.Tensor, elems: tuple[tf.Tensor, tuple[tf.Tensor, ...]]) -> tf.Tensor:
        end_t, srcs = elems
        for src in srcs[: end_index + 1]:  # frame t up to E, oldest first
            state = hop(state, src)
        length, ended = state[..., 0], state[..., 1] > 0
        end_now = tf.logical_or(tf.cast(end_t, tf.bool), ended)
        stop = ended if include_eos else end_now
        length = length + tf.cast(tf.logical_not(stop), tf.int32)
        state = tf.stack([length, tf.cast(end_now, tf.int32)], axis=-1)
        for src in srcs[end_index + 1:]:  # newer choices of frame t: into the latest beam
            state = hop(state, src)
        return state

    final = tf.foldl(step, (end_flags, src_beams), initializer=init)
    return final[..., 0]


def backtrack_tensors(
    labels: Sequence[Any],
    src_beams: Sequence[Any],
    scores: Any,
    end_flags: Any = None,
    *,
    end_index: int | None = None,
    include_eos: bool = False,
    method: str = "doubling",
) -> TFBacktrackResult:
    """Backtrack from tensors: the graph-level core of :func:`backtrack`.

    Parameters
    ----------
    labels, src_beams : sequence of tensor-like
        One ``[T, B, K_c]`` integer tensor per choice, in frame order (oldest first), with the
        meaning of :class:`~searchgraph.trace.SearchTrace` (``src_beams`` values are not checked
        here; out-of-range values raise on CPU and read zeros on GPU).
    scores : tensor-like
        ``[T, B, K_latest]`` beam scores of the latest choice.
    end_flags : tensor-like, optional
        ``[T, B, K_end]`` bool, in the beam of ``labels[end_index]``'s choice.
    end_index : int, optional
        Position of the end layer's choice; given iff ``end_flags`` is.
    include_eos : bool, optional
        The rec layer's ``include_eos``.
    method : {"doubling", "scan"}, optional
        See the module docstring; the results are the same.

    Returns
    -------
    TFBacktrackResult

    Examples
    --------
    >>> lab = tf.constant([[[5, 6]], [[7, 8]]])              # T=2, batch=1, K=2
    >>> src = tf.constant([[[0, 0]], [[1, 0]]])
    >>> backtrack_tensors([lab], [src], tf.zeros([2, 1, 2])).sequences[0].numpy().tolist()
    [[[6, 7], [5, 8]]]
    """
    _check_config(len(labels), end_index, end_flags is not None)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if len(labels) != len(src_beams):
        raise ValueError(f"{len(labels)} labels tensors but {len(src_beams)} src_beams tensors")
    with tf.name_scope("backtrack"):
        labels = tuple(tf.convert_to_tensor(x) for x in labels)
        src_beams = tuple(tf.convert_to_tensor(x) for x in src_beams)
        for what, group in (("labels", labels), ("src_beams", src_beams)):
            for x in group:
                if not x.dtype.is_integer:
                    raise TypeError(f"{what} must be integer tensors, got {x.dtype.name}")
                if x.shape.rank not in (None, 3):
                    raise ValueError(f"{what} must be [T, batch, K], got shape {x.shape}")
        scores = tf.convert_to_tensor(scores)
        if method == "doubling":
            idx = _beam_indices_doubling(src_beams)
            picked = tuple(tf.gather(lab, tf.cast(i, tf.int32), batch_dims=2) for lab, i in zip(labels, idx))
        else:
            idx, picked = _beam_indices_scan(src_beams, labels)
        sequences = tuple(tf.transpose(x, [1, 2, 0]) for x in picked)
        if end_flags is None:
            t_max = tf.shape(src_beams[0])[0]
            lengths = tf.fill(tf.shape(idx[-1])[1:], t_max)
        elif method == "doubling":
            lengths = _path_lengths(tf.convert_to_tensor(end_flags), idx[end_index], include_eos)
        else:  # in the same frame-by-frame style (XLA: one more tight loop beats gathers over [T, B, K])
            lengths = _lengths(src_beams, tf.convert_to_tensor(end_flags), end_index, include_eos)
        return TFBacktrackResult(sequences=sequences, beam_indices=idx, lengths=lengths, scores=scores[-1])


def backtrack(
    trace_or_tensors: SearchTrace | Mapping[str, Any],
    *,
    end_index: int | None = None,
    include_eos: bool = False,
    method: str = "doubling",
) -> TFBacktrackResult:
    """RETURNN's backtracking of a search, in TensorFlow; same results as the NumPy reference.

    Parameters
    ----------
    trace_or_tensors : SearchTrace or mapping
        A trace (its ``end_index`` / ``include_eos`` are used; the keyword arguments must be left
        at their defaults), or a nest like :meth:`SearchTrace.tensor_inputs`: ``{"labels":
        (...), "src_beams": (...), "scores": [T, B, K_latest], "end_flags": ... (optional)}`` of
        arrays or tensors, e.g. the argument of a :func:`tf.function`.
    end_index, include_eos :
        Static settings for the mapping form (see :func:`backtrack_tensors`).
    method : {"doubling", "scan"}, optional
        See the module docstring.

    Returns
    -------
    TFBacktrackResult
        Per-choice tuples in frame order; ``result.by_choice(trace.choices)`` names them.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((1, 1, 2), np.int32)
    >>> tr = SearchTrace.from_arrays("r", ["r/c"], {"r/c": z + 3}, {"r/c": z}, {"r/c": z * 0.0})
    >>> backtrack(tr).sequences[0].numpy().tolist()
    [[[3], [3]]]
    """
    if isinstance(trace_or_tensors, SearchTrace):
        if end_index is not None or include_eos:
            raise ValueError("end_index/include_eos come from the SearchTrace; do not pass them")
        trace = trace_or_tensors
        inputs: Mapping[str, Any] = trace.tensor_inputs()
        end_index, include_eos = trace.end_index, trace.include_eos
    elif isinstance(trace_or_tensors, Mapping):
        inputs = trace_or_tensors
        unknown = set(inputs) - {"labels", "src_beams", "scores", "end_flags"}
        if unknown:
            raise ValueError(f"unknown keys in backtrack inputs: {sorted(unknown)}")
    else:
        raise TypeError(f"backtrack expects a SearchTrace or a mapping of tensors, "
                        f"got {type(trace_or_tensors).__name__}")
    return backtrack_tensors(inputs["labels"], inputs["src_beams"], inputs["scores"], inputs.get("end_flags"),
                             end_index=end_index, include_eos=include_eos, method=method)


def input_signature(beam_sizes: Sequence[int], *, has_end: bool, end_beam: int | None = None,
                    label_dtype: tf.DType = tf.int32, score_dtype: tf.DType = tf.float32) -> dict[str, Any]:
    """The nest of :class:`tf.TensorSpec` (unknown ``T`` and batch) of :meth:`SearchTrace.tensor_inputs`.

    ``beam_sizes`` in frame order; ``end_beam`` is the end choice's beam size (needed iff
    ``has_end``).
    """
    spec: dict[str, Any] = {
        "labels": tuple(tf.TensorSpec([None, None, k], label_dtype) for k in beam_sizes),
        "src_beams": tuple(tf.TensorSpec([None, None, k], tf.int32) for k in beam_sizes),
        "scores": tf.TensorSpec([None, None, beam_sizes[-1]], score_dtype),
    }
    if has_end:
        if end_beam is None:
            raise ValueError("end_beam is needed with has_end=True")
        spec["end_flags"] = tf.TensorSpec([None, None, end_beam], tf.bool)
    return spec


def backtrack_function(trace: SearchTrace, *, jit_compile: bool | None = None,
                       method: str | None = None) -> Any:
    """A :func:`tf.function` that backtracks any search shaped like ``trace`` (any ``T``, batch).

    The function takes one argument, a nest like ``trace.tensor_inputs()``, with the input
    signature of :func:`input_signature`; beam sizes, ``end_index`` and ``include_eos`` are fixed
    to ``trace``'s. ``jit_compile=True`` compiles it with XLA (once per distinct ``T`` and batch:
    worth it when shapes repeat; on the CPU the fastest variant, see ``bench/backtrack.py``).
    ``method`` defaults to ``"scan"`` with XLA (a tight compiled loop of small gathers beats the
    ``T log T`` work of doubling on a CPU) and to ``"doubling"`` without (fewer op launches).

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((2, 1, 2), np.int32)
    >>> tr = SearchTrace.from_arrays("r", ["r/c"], {"r/c": z + 1}, {"r/c": z}, {"r/c": z * 0.0})
    >>> fn = backtrack_function(tr)
    >>> fn(tr.tensor_inputs()).lengths.numpy().tolist()
    [[2, 2]]
    """
    sizes = [trace.beam_sizes[c] for c in trace.choices]
    end_beam = trace.beam_sizes[trace.end_choice] if trace.end_choice is not None else None
    score_dtype = tf.as_dtype(trace.scores[trace.latest_choice].dtype)
    signature = input_signature(sizes, has_end=trace.end_flags is not None, end_beam=end_beam,
                                score_dtype=score_dtype)
    end_index, include_eos = trace.end_index, trace.include_eos
    method = method if method is not None else ("scan" if jit_compile else "doubling")

    # autograph off: the graph is built from explicit tf.while_loop / tf.scan, nothing to convert
    @tf.function(input_signature=[signature], jit_compile=jit_compile, autograph=False)
    def run(inputs: dict[str, Any]) -> TFBacktrackResult:
        return backtrack(inputs, end_index=end_index, include_eos=include_eos, method=method)

    return run
