"""Beam re-selection and tiling on real tensors, in RETURNN's layout (TensorFlow).

RETURNN keeps the beam merged into the batch axis, batch-major: row ``b * K + k`` holds hypothesis
``k`` of batch entry ``b``. Translating a tensor from one beam to a newer one means gathering rows
along a chain of ``src_beams`` maps, oldest first (``returnn-search-semantics.md`` §4.3–§4.5:
``SelectSearchSourcesLayer``, ``select_src_beams``, ``copy_extend_with_beam``).

* :func:`select_src_beams` is a bit-exact replacement for RETURNN's
  ``returnn.tf.util.basic.select_src_beams``, done as one flat :func:`tf.gather`.
* :func:`compose_src_beams` folds a chain of ``src_beams`` maps into one, so a multi-hop
  translation plan moves the payload once instead of once per hop.
* :func:`tile_to_beam` is RETURNN's beam tiling (``tile_transposed`` on the batch axis).

All three work eagerly and inside :func:`tf.function` (also with unknown static shapes), on any
device; no device is forced. This is the only part of searchgraph that imports TensorFlow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import tensorflow as tf

__all__ = ["compose_src_beams", "select_src_beams", "tile_to_beam"]

_INT32_MAX = 2**31 - 1

#: A size that is a Python int when statically known, else a scalar tensor.
_Dim = int | tf.Tensor


def _device_scope(x: tf.Tensor) -> contextlib.AbstractContextManager:
    """Eagerly, run on the device ``x`` lives on (eager ops otherwise default to the first GPU);
    in a graph, leave placement to TensorFlow's placer."""
    if tf.executing_eagerly() and getattr(x, "device", ""):
        return tf.device(x.device)
    return contextlib.nullcontext()


def _dim(t: tf.Tensor, axis: int, dtype: tf.DType) -> _Dim:
    """``t.shape[axis]`` as a Python int if static, else as a scalar ``dtype`` tensor."""
    if t.shape.rank is not None and t.shape[axis] is not None:
        return int(t.shape[axis])
    return tf.shape(t, out_type=dtype)[axis]


def _static(*dims: _Dim) -> bool:
    return all(isinstance(d, int) for d in dims)


def select_src_beams(
    x: tf.Tensor,
    src_beams: tf.Tensor,
    *,
    validate: bool = False,
    name: str | None = None,
) -> tf.Tensor:
    """Re-select beam hypotheses: ``[batch*src_beam, ...] -> [batch*beam, ...]``.

    Same layout, meaning and result as RETURNN's ``returnn.tf.util.basic.select_src_beams``:
    output row ``b*beam + k`` is input row ``b*src_beam + src_beams[b, k]``, with
    ``src_beam = x.shape[0] // batch``. Where ``x`` has no rows (``x.shape[0] == 0``) the result is
    zeros of shape ``[batch*beam, ...]``, as in RETURNN. Unlike RETURNN, the rows are taken with one
    :func:`tf.gather` on the flat batch axis (no reshape, no ``gather_nd``).

    Parameters
    ----------
    x : tf.Tensor
        ``[batch*src_beam, ...]``, any dtype, rank >= 1.
    src_beams : tf.Tensor
        ``[batch, beam]`` int32 or int64, values in ``[0, src_beam)``.
    validate : bool, optional
        Add run-time checks that ``x.shape[0] == batch*src_beam`` and that every value of
        ``src_beams`` is in ``[0, src_beam)``. Without them (the default; statically known shapes
        are always checked) an out-of-range value silently reads a neighbouring batch entry's row,
        or, past the end, raises on CPU and gives zeros on GPU.
    name : str, optional
        Name scope, default ``"select_src_beams"``.

    Returns
    -------
    tf.Tensor
        ``[batch*beam, ...]``, ``x``'s dtype.

    Raises
    ------
    TypeError
        If ``src_beams`` is not int32/int64.
    ValueError
        If ranks are wrong, or static shapes show that ``x.shape[0]`` is not ``batch*src_beam``.

    Examples
    --------
    >>> x = tf.constant([10, 11, 12, 20, 21, 22])          # batch 2, src_beam 3
    >>> select_src_beams(x, tf.constant([[2, 2], [0, 1]])).numpy()
    array([12, 12, 20, 21], dtype=int32)
    """
    with tf.name_scope(name or "select_src_beams"):
        x = tf.convert_to_tensor(x)
        src_beams = tf.convert_to_tensor(src_beams)
        if src_beams.dtype not in (tf.int32, tf.int64):
            raise TypeError(f"src_beams must be int32 or int64, got {src_beams.dtype.name}")
        if src_beams.shape.rank not in (None, 2):
            raise ValueError(f"src_beams must be [batch, beam], got shape {src_beams.shape}")
        if x.shape.rank == 0:
            raise ValueError("x must have rank >= 1, [batch*src_beam, ...]")
        with _device_scope(x):
            return _select(x, src_beams, validate)


def _select(x: tf.Tensor, src_beams: tf.Tensor, validate: bool) -> tf.Tensor:
    static_rows = x.shape.rank is not None and x.shape[0] is not None
    wide = src_beams.dtype == tf.int64 or (static_rows and int(x.shape[0]) > _INT32_MAX)
    idx = tf.int64 if wide else tf.int32
    if src_beams.dtype != idx:
        src_beams = tf.cast(src_beams, idx)
    rows, batch, beam = _dim(x, 0, idx), _dim(src_beams, 0, idx), _dim(src_beams, 1, idx)

    if _static(rows, batch) and (rows % batch if batch else rows):
        raise ValueError(f"x has {rows} rows, which is not a multiple of batch = {batch}")
    # batch 0 forces rows 0 (checked above, or by `validate`); max() only avoids dividing by 0.
    src_beam = rows // max(batch, 1) if _static(rows, batch) else rows // tf.maximum(batch, 1)
    out_rows = batch * beam
    static_out = tf.TensorShape([out_rows if _static(out_rows) else None]).concatenate(x.shape[1:])

    checks = []
    if validate:
        checks.append(tf.debugging.assert_equal(
            rows, batch * src_beam, message="select_src_beams: x.shape[0] != batch * src_beam"))
        checks.append(tf.debugging.assert_non_negative(
            src_beams, message="select_src_beams: negative src_beams"))
        checks.append(tf.debugging.assert_less(
            src_beams, tf.cast(src_beam, idx), message="select_src_beams: src_beams >= src_beam"))

    def gather() -> tf.Tensor:
        with tf.control_dependencies(checks):
            offsets = tf.range(batch, dtype=idx) * src_beam  # [batch], first row of each entry
            flat = tf.reshape(src_beams + offsets[:, None], [-1])  # [batch*beam]
        return tf.gather(x, flat, axis=0)

    def zeros() -> tf.Tensor:
        # RETURNN's `_empty` branch: no rows to read from, so zeros of the output shape.
        shape = tf.concat([tf.reshape(tf.cast(out_rows, tf.int32), [1]), tf.shape(x)[1:]], axis=0)
        return tf.zeros(shape, dtype=x.dtype)

    if isinstance(rows, int):
        y = gather() if rows > 0 else zeros()
    else:
        y = tf.cond(rows > 0, gather, zeros)
    y.set_shape(static_out)
    return y


def compose_src_beams(chain: Sequence[tf.Tensor], *, name: str | None = None) -> tf.Tensor:
    """Fold a chain of ``src_beams`` maps into one.

    ``chain[i]`` is ``[batch, beam_i]`` with values in ``[0, beam_{i-1})`` (``beam_{-1}`` is the
    beam ``x`` is in before the first step), oldest first, i.e. in the order RETURNN applies them
    (``SelectSearchSourcesLayer``: ``reversed(plan)``). The result ``c`` is ``[batch, beam_last]``
    with ``c[b, k] = chain[0][b, chain[1][b, ... chain[-1][b, k]]]``, so that
    ``select_src_beams(x, compose_src_beams(chain))`` equals applying :func:`select_src_beams` with
    each map in turn, while moving the payload only once. A single-element chain is returned as
    is.

    Parameters
    ----------
    chain : sequence of tf.Tensor
        Non-empty; each ``[batch, beam_i]``, int32 or int64 (mixing is allowed).
    name : str, optional
        Name scope, default ``"compose_src_beams"``.

    Returns
    -------
    tf.Tensor
        ``[batch, beam_last]``, the dtype of ``chain[0]``.

    Examples
    --------
    >>> first = tf.constant([[1, 0, 1]])                   # beam 2 -> 3
    >>> second = tf.constant([[2, 2, 0, 1]])               # beam 3 -> 4
    >>> compose_src_beams([first, second]).numpy()
    array([[1, 1, 1, 0]], dtype=int32)
    """
    chain = list(chain)
    if not chain:
        raise ValueError("compose_src_beams needs at least one src_beams tensor")
    with tf.name_scope(name or "compose_src_beams"):
        chain = [tf.convert_to_tensor(s) for s in chain]
        for s in chain:
            if s.dtype not in (tf.int32, tf.int64):
                raise TypeError(f"src_beams must be int32 or int64, got {s.dtype.name}")
            if s.shape.rank not in (None, 2):
                raise ValueError(f"src_beams must be [batch, beam], got shape {s.shape}")
        composed = chain[-1]
        with _device_scope(composed):
            for earlier in reversed(chain[:-1]):
                composed = tf.gather(earlier, composed, batch_dims=1)
        return composed


def tile_to_beam(x: tf.Tensor, beam_size: int | tf.Tensor, *, name: str | None = None) -> tf.Tensor:
    """Expand a beamless ``[batch, ...]`` tensor into a beam: ``[batch*beam_size, ...]``.

    Batch-major, as RETURNN's ``Data.copy_extend_with_beam`` (``tile_transposed`` on the batch
    axis): each batch row is repeated ``beam_size`` times consecutively, ``[a, b] -> [a, a, a, b,
    b, b]``.

    Parameters
    ----------
    x : tf.Tensor
        ``[batch, ...]``, any dtype, rank >= 1.
    beam_size : int or tf.Tensor
        Non-negative; a Python int or a scalar int tensor.
    name : str, optional
        Name scope, default ``"tile_to_beam"``.

    Returns
    -------
    tf.Tensor
        ``[batch*beam_size, ...]``, ``x``'s dtype.

    Examples
    --------
    >>> tile_to_beam(tf.constant([1, 2]), 3).numpy()
    array([1, 1, 1, 2, 2, 2], dtype=int32)
    """
    if isinstance(beam_size, int) and beam_size < 0:
        raise ValueError(f"beam_size must be >= 0, got {beam_size}")
    with tf.name_scope(name or "tile_to_beam"):
        x = tf.convert_to_tensor(x)
        if x.shape.rank == 0:
            raise ValueError("x must have rank >= 1, [batch, ...]")
        with _device_scope(x):
            if isinstance(beam_size, int) and beam_size == 1:
                return tf.identity(x)
            beam = tf.cast(beam_size, tf.int32) if not isinstance(beam_size, int) else beam_size
            shape = tf.shape(x)
            y = tf.expand_dims(x, 1)  # [batch, 1, ...]
            if x.shape.rank is not None:
                multiples = [1, beam] + [1] * (x.shape.rank - 1)
            else:
                multiples = tf.concat([[1], tf.reshape(beam, [1]), tf.ones([tf.rank(x) - 1], tf.int32)], 0)
            y = tf.tile(y, multiples)  # [batch, beam, ...]
            y = tf.reshape(y, tf.concat([tf.reshape(shape[0] * beam, [1]), shape[1:]], axis=0))
            rows = x.shape[0] if x.shape.rank is not None else None
            out_rows = rows * beam_size if rows is not None and isinstance(beam_size, int) else None
            if x.shape.rank is not None:
                y.set_shape(tf.TensorShape([out_rows]).concatenate(x.shape[1:]))
            return y
