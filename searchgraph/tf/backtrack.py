"""Backtracking a beam search into n-best sequences in TensorFlow.

Same semantics and results as the NumPy :func:`searchgraph.search.backtrack.backtrack` (RETURNN's
``RecLayer._opt_search_resolve`` and the in-loop ``seq_len`` bookkeeping,
``returnn-search-semantics.md`` §4.6, §6.4). Two methods:

* ``"doubling"`` (default of :func:`backtrack_tensors`): no loop over the frames. The per-frame maps
  from the latest beam of frame ``t`` to that of ``t - 1`` are built for all frames at once, their
  suffix compositions by pointer doubling (a ``tf.while_loop`` of ``ceil(log2 T)`` batched
  gathers), and the lengths from the end flags along each final hypothesis' path (a minimum over
  the frames). A handful of ops whatever ``T`` is, at ``T log T`` work; it pays off where launching
  ops is what costs (graph mode without XLA).
* ``"scan"``: RETURNN's way, one backward loop over the frames, in flat index space: a table built
  once maps every hypothesis of the latest beam to the one it extends in the frame before; the loop
  follows it for all final hypotheses, ``_BLOCK`` frames per iteration, and gathers each block's
  beam indices, labels and end flags right there, writing every output in place (under XLA with
  ``DynamicUpdateSlice``, the labels straight into their ``[batch, K, T]`` layout), so nothing
  passes over ``[T, B, K]`` after the loop. Compiled with XLA (``jit_compile=True``) the fastest
  variant on a CPU (figures: ``bench/backtrack.py``).

Both work eagerly and inside :func:`tf.function` with unknown ``T`` and batch (see
:func:`backtrack_function`), on any device (nothing is pinned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import tensorflow as tf

from ..search.trace import SearchTrace

__all__ = ["METHODS", "BacktrackFunction", "TFBacktrackResult", "backtrack", "backtrack_function",
           "backtrack_tensors", "input_signature"]

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
    """Lengths from the end flags along each final hypothesis' path (``searchgraph.search.backtrack.path_lengths``).

    A hypothesis ends at the first frame ``f`` whose flag is set on its path: its length is ``f``, or
    ``f + 1`` with ``include_eos`` (the frame that ends counts), ``T`` if it never ends. Computed as a
    minimum over the frames (a cumulative sum would be ``O(T^2)`` under XLA).
    """
    flags = tf.gather(tf.cast(end_flags, tf.bool), tf.cast(end_path, tf.int32), batch_dims=2)
    t_max = tf.shape(flags)[0]
    frame = tf.reshape(tf.range(t_max, dtype=tf.int32), [-1, 1, 1])
    first = tf.minimum(tf.reduce_min(tf.where(flags, frame, t_max), axis=0), t_max)  # t_max: no flag
    return tf.minimum(first + 1, t_max) if include_eos else first


#: Frames per iteration of the ``"scan"`` loop (unrolled in Python; the ``T mod _BLOCK`` oldest frames
#: take a second loop, one frame per iteration, so that every write has a static size).
_BLOCK = 8


def _iota(shape: Sequence[Any], axis: int) -> tf.Tensor:
    """int32 index along ``axis`` broadcast to ``shape`` (Python ints or scalar tensors)."""
    dims = [1] * len(shape)
    dims[axis] = -1
    return tf.broadcast_to(tf.reshape(tf.range(shape[axis], dtype=tf.int32), dims), tf.stack(shape))


def _xla_ops() -> Any:
    try:
        from tensorflow.compiler.tf2xla.python import xla
    except ImportError:  # pragma: no cover - TF builds without the XLA Python ops
        return None
    return xla


def _scan(labels: tuple[tf.Tensor, ...], src_beams: tuple[tf.Tensor, ...], end_flags: tf.Tensor | None,
          end_index: int | None, include_eos: bool,
          xla: bool) -> tuple[tuple[tf.Tensor, ...], tuple[tf.Tensor, ...], tf.Tensor | None]:
    """Per choice sequences ``[B, K, T]`` and beam indices ``[T, B, K]``, and the lengths (None without
    end flags), by one backward loop over the frames (see the module docstring).

    Index space: ``g = (t * B + b) * K_latest + k`` is hypothesis ``k`` of the latest beam at frame
    ``t`` and its position in the flattened ``[T, B, K_latest]`` arrays. ``table[g]`` is the ``g`` of
    the hypothesis it extends in frame ``t - 1`` (through all choices of frame ``t``). ``xla``: write
    the outputs with XLA's ``DynamicUpdateSlice`` (for ``jit_compile``; in place); otherwise rows of
    ``TensorArray`` s (any mode) and one transpose of the labels after the loop.
    """
    xla_ops = _xla_ops() if xla else None
    srcs = tuple(tf.cast(s, tf.int32) for s in src_beams)
    ks = [_dim(s, 2) for s in srcs]
    n, k_last = len(srcs), ks[-1]
    shape = tf.shape(srcs[-1])
    t_max, batch = shape[0], shape[1]
    width = batch * k_last
    row = _iota([t_max, batch, k_last], 0) * batch + _iota([t_max, batch, k_last], 1)  # t * B + b
    prev = srcs[-1]  # through the frame's choices, latest first, into frame t - 1's latest beam
    for j in range(n - 2, -1, -1):
        prev = tf.gather(tf.reshape(srcs[j], [-1]), row * ks[j] + prev)
    # frame 0 has no frame before it: its entries point at 0 (followed once after the last frame, unused)
    table = tf.reshape(tf.where(row >= batch, (row - batch) * k_last + prev, 0), [-1])
    # XLA compiles the block loop's body even where T < _BLOCK (it never runs then): every array the body
    # slices or writes gets at least _BLOCK frames (a no-op, pad or slice of nothing, for T >= _BLOCK)
    t_buf = tf.maximum(t_max, _BLOCK) if xla_ops is not None else t_max

    def flat_frames(x: tf.Tensor, k: int | tf.Tensor) -> tf.Tensor:
        x = tf.reshape(x, [-1])
        return x if xla_ops is None else tf.pad(x, tf.stack([[0, (t_buf - t_max) * batch * k]]))

    table = flat_frames(table, k_last)
    src_flat = [flat_frames(s, k) for s, k in zip(srcs, ks)]
    lab_flat = [flat_frames(x, k) for x, k in zip(labels, ks)]
    end_flat = None if end_flags is None else flat_frames(tf.cast(end_flags, tf.bool), ks[end_index])

    def frames_of(flat: tf.Tensor, k: int | tf.Tensor, start: Any, size: int) -> tf.Tensor:
        """Frames ``start .. start + size - 1`` of a flattened ``[T, B, k]`` array. Every gather in the
        loop reads such a slice, not the whole array: with a large operand XLA's CPU cost model splits
        even these tiny gathers over threads, a thread hand-off per gather (seen from ``T * B * K``
        around ``1.5e5`` on, 2.5x slower on a busy 2-CPU machine)."""
        return tf.slice(flat, tf.reshape(start * batch * k, [1]), tf.reshape(size * batch * k, [1]))

    def block_outputs(g: tf.Tensor, start: Any, size: int) -> tuple[list[Any], list[Any], Any]:
        """``g`` ``[size, B, K]`` of frames ``start, ...``: per choice beam indices and labels, and the
        first frame of the block whose end flag is set on the path (``T`` if none)."""
        frame = _iota([size, batch, k_last], 0)
        rows = frame * batch + _iota([size, batch, k_last], 1)  # within the block
        idx: list[Any] = [None] * n
        lab: list[Any] = [None] * n
        first = None
        flat = g - start * width
        for j in range(n - 1, -1, -1):  # latest choice first, as RETURNN's resolve
            if j == n - 1:
                idx[j] = flat - rows * k_last
            else:
                idx[j] = tf.gather(frames_of(src_flat[j + 1], ks[j + 1], start, size), flat)  # j's beam
                flat = rows * ks[j] + idx[j]
            lab[j] = tf.gather(frames_of(lab_flat[j], ks[j], start, size), flat)
            if end_flat is not None and j == end_index:
                ends = tf.gather(frames_of(end_flat, ks[j], start, size), flat)
                first = tf.reduce_min(tf.where(ends, frame + start, t_max), axis=0)
        return idx, lab, first

    def make_body(size: int) -> Any:
        def body(top: Any, g: Any, first: Any, idx_out: tuple[Any, ...],
                 lab_out: tuple[Any, ...]) -> tuple[Any, ...]:
            # g: [B * K] pointers at frame `top`; this iteration covers frames top - size + 1 .. top
            start = top - (size - 1)
            block_table = frames_of(table, k_last, start, size)

            def back(g: tf.Tensor) -> tf.Tensor:  # one frame back
                return tf.gather(block_table, g - start * width)

            block = [g]
            for _ in range(size - 1):
                g = back(g)
                block.append(g)
            idx, lab, block_first = block_outputs(tf.reshape(tf.stack(block[::-1]), [size, batch, k_last]),
                                                  start, size)
            if xla_ops is not None:
                at_t, at_last = tf.stack([start, 0, 0]), tf.stack([0, 0, start])
                idx_out = tuple(xla_ops.dynamic_update_slice(o, tf.cast(i, o.dtype), at_t)
                                for o, i in zip(idx_out, idx))
                lab_out = tuple(xla_ops.dynamic_update_slice(o, tf.transpose(v, [1, 2, 0]), at_last)
                                for o, v in zip(lab_out, lab))
            else:
                frames = start + tf.range(size)
                idx_out = tuple(o.scatter(frames, tf.cast(i, o.dtype)) for o, i in zip(idx_out, idx))
                lab_out = tuple(o.scatter(frames, v) for o, v in zip(lab_out, lab))
            if block_first is not None:
                first = tf.minimum(first, block_first)
            return top - size, back(g), first, idx_out, lab_out
        return body

    if xla_ops is not None:
        idx_out: tuple[Any, ...] = tuple(tf.zeros(tf.stack([t_buf, batch, k_last]), s.dtype)
                                         for s in src_beams)
        lab_out: tuple[Any, ...] = tuple(tf.zeros(tf.stack([batch, k_last, t_buf]), x.dtype) for x in labels)
    else:
        def array(dtype: tf.DType) -> tf.TensorArray:
            return tf.TensorArray(dtype, size=t_max, element_shape=tf.TensorShape([None, k_last]))

        idx_out = tuple(array(s.dtype) for s in src_beams)
        lab_out = tuple(array(x.dtype) for x in labels)
    state = (t_max - 1, (t_max - 1) * width + tf.range(width), tf.fill(tf.stack([batch, k_last]), t_max),
             idx_out, lab_out)
    state = tf.while_loop(lambda top, *_: top >= _BLOCK - 1, make_body(_BLOCK), state)
    _, _, first, idx_out, lab_out = tf.while_loop(lambda top, *_: top >= 0, make_body(1), state)
    if xla_ops is None:
        idx_out = tuple(o.stack() for o in idx_out)
        lab_out = tuple(tf.transpose(o.stack(), [1, 2, 0]) for o in lab_out)
    else:
        idx_out = tuple(o[:t_max] for o in idx_out)
        lab_out = tuple(o[..., :t_max] for o in lab_out)
    if end_flat is None:
        return lab_out, idx_out, None
    return lab_out, idx_out, (tf.minimum(first + 1, t_max) if include_eos else first)


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
        meaning of :class:`~searchgraph.search.trace.SearchTrace` (``src_beams`` values are not checked
        here: out-of-range values raise or give wrong results, depending on method and device).
    scores : tensor-like
        ``[T, B, K_latest]`` beam scores of the latest choice.
    end_flags : tensor-like, optional
        ``[T, B, K_end]`` bool, in the beam of ``labels[end_index]``'s choice.
    end_index : int, optional
        Position of the end layer's choice; given iff ``end_flags`` is.
    include_eos : bool, optional
        The rec layer's ``include_eos``.
    method : {"doubling", "scan"}, optional
        See the module docstring; the results are the same. Here ``"scan"`` writes its outputs
        through ``TensorArray`` s, which works in every TF mode; :func:`backtrack_function` with
        ``jit_compile=True`` builds the XLA form (in-place ``DynamicUpdateSlice`` writes).

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
    return _backtrack_tensors(labels, src_beams, scores, end_flags, end_index=end_index,
                              include_eos=include_eos, method=method, xla=False)


def _backtrack_tensors(labels: Sequence[Any], src_beams: Sequence[Any], scores: Any, end_flags: Any, *,
                       end_index: int | None, include_eos: bool, method: str, xla: bool) -> TFBacktrackResult:
    """:func:`backtrack_tensors`; ``xla``: the graph is compiled with XLA (the ``"scan"`` loop writes
    its outputs with XLA's in-place ``DynamicUpdateSlice`` then)."""
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
        end = None if end_flags is None else tf.convert_to_tensor(end_flags)
        lengths = None
        if method == "doubling":
            idx = _beam_indices_doubling(src_beams)
            picked = tuple(tf.gather(lab, tf.cast(i, tf.int32), batch_dims=2) for lab, i in zip(labels, idx))
            sequences = tuple(tf.transpose(x, [1, 2, 0]) for x in picked)
            if end is not None:
                lengths = _path_lengths(end, idx[end_index], include_eos)
        else:
            sequences, idx, lengths = _scan(labels, src_beams, end, end_index, include_eos, xla)
        if lengths is None:
            t_max = tf.shape(src_beams[0])[0]
            lengths = tf.fill(tf.shape(idx[-1])[1:], t_max)
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
                       method: str | None = None) -> BacktrackFunction:
    """A compiled backtracking of any search shaped like ``trace`` (any ``T``, batch).

    Returns a :class:`BacktrackFunction`: called with one argument, a nest like
    ``trace.tensor_inputs()``, it runs a :func:`tf.function` with the input signature of
    :func:`input_signature`; beam sizes, ``end_index`` and ``include_eos`` are fixed to ``trace``'s.
    ``jit_compile=True`` compiles it with XLA (once per distinct ``T`` and batch: worth it when
    shapes repeat; on the CPU the fastest variant, see ``bench/backtrack.py``). ``method``
    defaults to ``"scan"`` with XLA (one compiled loop of small gathers that writes the outputs in
    place beats the ``T log T`` work of doubling on a CPU) and to ``"doubling"`` without (fewer op
    launches).

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
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    xla = bool(jit_compile)

    # autograph off: the graph is built from explicit tf.while_loop, nothing to convert
    @tf.function(input_signature=[signature], jit_compile=jit_compile, autograph=False)
    def run(inputs: dict[str, Any]) -> TFBacktrackResult:
        return _backtrack_tensors(inputs["labels"], inputs["src_beams"], inputs["scores"],
                                  inputs.get("end_flags"), end_index=end_index, include_eos=include_eos,
                                  method=method, xla=xla)

    return BacktrackFunction(run, signature)


class BacktrackFunction:
    """What :func:`backtrack_function` returns: its :func:`tf.function` with a lean eager call.

    Calling ``tf.function`` costs several hundred microseconds of Python per call here (matching
    the nest of arguments against the signature, binding, packing the result), as much as the XLA
    backtracking itself. When called eagerly with a mapping of eager tensors that match the
    signature exactly (dtypes, rank, beam sizes), the instance flattens them itself and runs the
    one concrete function directly (``ConcreteFunction._call_flat``, the call the ``tf.function``
    ends in, so the same graph and the same results). Anything else (NumPy arrays, other dtypes,
    graph mode, a bad nest) goes through the ``tf.function``, with its conversions and errors.

    Attributes
    ----------
    function : tf.types.experimental.PolymorphicFunction
        The :func:`tf.function`; other attributes (``get_concrete_function``,
        ``experimental_get_tracing_count``, ...) are looked up on it.
    """

    def __init__(self, function: Any, signature: Mapping[str, Any]) -> None:
        self.function = function
        self._keys = tuple(sorted(signature))  # tf.nest's order of a dict
        self._nested = tuple(isinstance(signature[k], tuple) for k in self._keys)
        self._specs = tuple(tf.nest.flatten(signature))
        self._concrete: Any = None
        self._call_flat: Any = None

    def __call__(self, inputs: Mapping[str, Any]) -> TFBacktrackResult:
        flat = self._flat_eager_inputs(inputs)
        if flat is None:
            return self.function(inputs)
        if self._concrete is None:
            self._concrete = self.function.get_concrete_function()
            self._call_flat = getattr(self._concrete, "_call_flat", None)
        if self._call_flat is None:  # pragma: no cover - a TF without the private entry point
            return self.function(inputs)
        return self._call_flat(flat, self._concrete.captured_inputs)

    def _flat_eager_inputs(self, inputs: Any) -> list[Any] | None:
        """``inputs``' tensors in signature order, or None where the fast path does not apply."""
        if not isinstance(inputs, Mapping) or len(inputs) != len(self._keys) or not tf.executing_eagerly():
            return None
        flat: list[Any] = []
        for key, nested in zip(self._keys, self._nested):
            value = inputs.get(key)
            if nested != isinstance(value, tuple):
                return None
            if nested:
                flat.extend(value)
            else:
                flat.append(value)
        if len(flat) != len(self._specs):
            return None
        for x, spec in zip(flat, self._specs):
            if not isinstance(x, tf.Tensor) or x.dtype is not spec.dtype:  # DTypes are interned
                return None
            shape = x.shape
            if shape.rank != 3 or shape[2] != spec.shape[2]:
                return None
        return flat

    def __getattr__(self, name: str) -> Any:
        if name == "function":  # not set yet (e.g. during copying): no recursion
            raise AttributeError(name)
        return getattr(self.function, name)
