"""One recorded beam search of one RETURNN rec loop, as plain NumPy arrays.

A :class:`SearchTrace` holds, per frame and per choice layer of the loop, what RETURNN's
``ChoiceLayer`` produced (labels, ``src_beams``, beam scores) plus the per-frame ``end`` flags.
That is all :func:`searchgraph.search.backtrack.backtrack` needs to rebuild RETURNN's n-best output
sequences and lengths (``returnn-search-semantics.md`` §2.4, §4.6, §6). Traces are saved as one
``.npz`` file with the metadata as JSON inside; no pickles.

Layout (``T`` frames, ``B`` batch entries, ``K_c`` the beam size of choice ``c``):

* ``labels[c]``, ``src_beams[c]``, ``scores[c]``: ``[T, B, K_c]``. ``src_beams[c][t, b, k]`` is the
  hypothesis that ``k`` extends, as an index into the beam of the previous choice in frame order;
  for the frame's first choice, into the beam of the frame's latest choice at frame ``t - 1``. At
  ``t = 0`` the incoming beam has size 1 (RETURNN's first-frame trick) or ``K_latest``; the values
  are stored as RETURNN gave them and must lie in ``[0, K_latest)``.
* ``end_flags``: ``[T, B, K_end]`` bool, RETURNN's ``end`` layer per frame in the beam of
  ``end_choice`` at frame ``t`` (already OR-ed with ``prev:end``, as RETURNN does; an un-OR-ed
  flag gives the same lengths). If the end layer is on ``prev:C``, record it after RETURNN's
  frame-end translation, i.e. in ``C``'s beam of frame ``t``, with ``end_choice = C``.
* ``final_lengths`` / ``final_scores``: optional ``[B, K_latest]``, RETURNN's own results (flat
  ``B*K`` tensors reshaped), kept for comparison only.
* ``records``: optional, layer name -> ``[T, B, K_latest, ...]``, a loop layer's value per frame in
  the latest choice's beam of that frame (e.g. ``output/att_weights``: where each hypothesis attended
  when it chose frame ``t``'s label).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SearchgraphError

__all__ = ["FORMAT_VERSION", "SearchTrace", "TraceFileError"]

#: Version of the ``.npz`` layout written by :meth:`SearchTrace.save`.
FORMAT_VERSION = 1


class TraceFileError(SearchgraphError, ValueError):
    """A file that is not a readable :class:`SearchTrace` (``where`` is the file)."""


def _int_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name} does not fit into int32")
    return arr.astype(np.int32, copy=False)


def _float_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric (float) array, got dtype {arr.dtype}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float32)


@dataclass(eq=False)
class SearchTrace:
    """Labels, ``src_beams``, scores and end flags of every frame of one rec loop's beam search.

    Construct with :meth:`from_arrays` (or the constructor, which validates the same way) and
    persist with :meth:`save` / :meth:`load`. Arrays are normalised: labels and ``src_beams`` to
    int32, ``end_flags`` to bool.

    Attributes
    ----------
    rec : str
        Name of the rec layer (``"output"``).
    choices : list of str
        Choice layers of one frame, oldest first (``["output/choice1", "output/choice2"]``).
    beam_sizes : dict of str to int
        ``K`` per choice.
    labels, src_beams, scores : dict of str to np.ndarray
        ``[T, B, K_c]`` per choice (see the module docstring for the meaning of ``src_beams``).
    end_flags : np.ndarray or None
        ``[T, B, K_end]`` bool, in ``end_choice``'s beam; None if the loop has no ``end`` layer.
    end_choice : str or None
        The choice the end layer's beam belongs to; set iff ``end_flags`` is.
    include_eos : bool
        The rec layer's ``include_eos``.
    final_lengths, final_scores : np.ndarray or None
        RETURNN's final ``[B, K_latest]`` lengths and scores, if recorded.
    meta : dict
        JSON-serialisable extras (network source, analysis summary, ...).
    records : dict of str to np.ndarray
        Recorded loop layers: ``[T, B, K_latest, ...]`` per layer name (see the module docstring).

    Examples
    --------
    >>> z = np.zeros((2, 1, 3), np.int32)
    >>> tr = SearchTrace.from_arrays("output", ["output/output"], {"output/output": z},
    ...                              {"output/output": z}, {"output/output": z * 0.0})
    >>> tr
    SearchTrace(rec='output', choices=['output/output'], beam_sizes={'output/output': 3}, frames=2, batch=1)
    """

    rec: str
    choices: list[str]
    beam_sizes: dict[str, int]
    labels: dict[str, np.ndarray]
    src_beams: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    end_flags: np.ndarray | None = None
    end_choice: str | None = None
    include_eos: bool = False
    final_lengths: np.ndarray | None = None
    final_scores: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    records: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validate()

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        rec: str,
        choices: Sequence[str],
        labels: Mapping[str, Any],
        src_beams: Mapping[str, Any],
        scores: Mapping[str, Any],
        *,
        beam_sizes: Mapping[str, int] | None = None,
        end_flags: Any = None,
        end_choice: str | None = None,
        include_eos: bool = False,
        final_lengths: Any = None,
        final_scores: Any = None,
        meta: Mapping[str, Any] | None = None,
        records: Mapping[str, Any] | None = None,
    ) -> SearchTrace:
        """Build and validate a trace from array-likes; ``beam_sizes`` defaults to the arrays' last dim.

        Raises
        ------
        ValueError
            If names, shapes, dtypes or ``src_beams`` values are inconsistent (message names the
            offending array).

        Examples
        --------
        >>> lab = np.array([[[4, 7]]])                       # T=1, B=1, K=2
        >>> tr = SearchTrace.from_arrays("output", ["output/c"], {"output/c": lab},
        ...                              {"output/c": lab * 0}, {"output/c": [[[-1.0, -2.0]]]})
        >>> tr.frames, tr.batch, tr.latest_choice
        (1, 1, 'output/c')
        """
        choices = list(choices)
        if beam_sizes is None:
            beam_sizes = {}
            for c in choices:
                if c not in labels:
                    raise ValueError(f"labels has no array for choice {c!r}")
                shape = np.shape(labels[c])
                if len(shape) != 3:
                    raise ValueError(f"labels[{c!r}] must be [T, batch, K], got shape {shape}")
                beam_sizes[c] = int(shape[2])
        return cls(
            rec=rec,
            choices=choices,
            beam_sizes=dict(beam_sizes),
            labels=dict(labels),
            src_beams=dict(src_beams),
            scores=dict(scores),
            end_flags=end_flags,
            end_choice=end_choice,
            include_eos=include_eos,
            final_lengths=final_lengths,
            final_scores=final_scores,
            meta=dict(meta or {}),
            records=dict(records or {}),
        )

    def _validate(self) -> None:
        if not isinstance(self.rec, str) or not self.rec:
            raise ValueError("rec must be a non-empty layer name")
        self.choices = list(self.choices)
        if not self.choices:
            raise ValueError("a trace needs at least one choice layer")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"duplicate choice names in {self.choices}")
        for what, table in (("beam_sizes", self.beam_sizes), ("labels", self.labels),
                            ("src_beams", self.src_beams), ("scores", self.scores)):
            if set(table) != set(self.choices):
                raise ValueError(f"{what} must have exactly the choices {self.choices} as keys, "
                                 f"got {sorted(table)}")
        self.beam_sizes = {c: int(self.beam_sizes[c]) for c in self.choices}
        for c, k in self.beam_sizes.items():
            if k < 1:
                raise ValueError(f"beam_sizes[{c!r}] must be >= 1, got {k}")
        self.labels = {c: _int_array(f"labels[{c!r}]", self.labels[c]) for c in self.choices}
        self.src_beams = {c: _int_array(f"src_beams[{c!r}]", self.src_beams[c]) for c in self.choices}
        self.scores = {c: _float_array(f"scores[{c!r}]", self.scores[c]) for c in self.choices}
        first = self.labels[self.choices[0]]
        if first.ndim != 3:
            raise ValueError(f"labels[{self.choices[0]!r}] must be [T, batch, K], got shape {first.shape}")
        t, b = first.shape[:2]
        if t < 1:
            raise ValueError("a trace needs at least one frame (T >= 1)")
        for c in self.choices:
            want = (t, b, self.beam_sizes[c])
            for what, arr in (("labels", self.labels[c]), ("src_beams", self.src_beams[c]),
                              ("scores", self.scores[c])):
                if arr.shape != want:
                    raise ValueError(f"{what}[{c!r}] has shape {arr.shape}, expected [T, batch, K] = {want}")
        self._validate_src_beams()
        self._validate_end()
        k_last = self.beam_sizes[self.latest_choice]
        for what in ("final_lengths", "final_scores"):
            value = getattr(self, what)
            if value is None:
                continue
            arr = _int_array(what, value) if what == "final_lengths" else _float_array(what, value)
            if arr.shape != (b, k_last):
                raise ValueError(f"{what} has shape {arr.shape}, expected [batch, K_latest] = {(b, k_last)} "
                                 f"(reshape RETURNN's flat [batch*beam] tensor)")
            setattr(self, what, arr)
        self.include_eos = bool(self.include_eos)
        self.meta = dict(self.meta)
        self.records = {str(name): _float_array(f"records[{name!r}]", value)
                        for name, value in dict(self.records).items()}
        for name, arr in self.records.items():
            if arr.shape[:3] != (t, b, k_last):
                raise ValueError(f"records[{name!r}] has shape {arr.shape}, expected [T, batch, K_latest, ...] "
                                 f"starting with {(t, b, k_last)}")

    def _validate_src_beams(self) -> None:
        for j, c in enumerate(self.choices):
            # Index into the previous choice of the frame; the first choice into the latest choice's
            # beam of frame t-1 (frame 0: an incoming beam of 1 or K_latest, so < K_latest too).
            src = self.choices[j - 1]
            limit = self.beam_sizes[src]
            arr = self.src_beams[c]
            if arr.size and (arr.min() < 0 or arr.max() >= limit):
                bad = np.argwhere((arr < 0) | (arr >= limit))[0]
                where = "the previous frame's " if j == 0 else ""
                at = tuple(int(i) for i in bad)
                raise ValueError(
                    f"src_beams[{c!r}] at [t, b, k] = {at} is {int(arr[at])}, "
                    f"out of range [0, {limit}) for {where}beam of {src!r}")

    def _validate_end(self) -> None:
        if (self.end_flags is None) != (self.end_choice is None):
            raise ValueError("end_flags and end_choice must be given together (or both None)")
        if self.end_flags is None:
            return
        if self.end_choice not in self.choices:
            raise ValueError(f"end_choice {self.end_choice!r} is not one of the choices {self.choices} "
                             "(RETURNN: 'End layer must not have a beam independent from output layer')")
        arr = np.asarray(self.end_flags)
        if arr.dtype != np.bool_:
            if arr.dtype.kind not in "iu" or (arr.size and not np.isin(arr, (0, 1)).all()):
                raise ValueError(f"end_flags must be boolean, got dtype {arr.dtype}")
            arr = arr.astype(bool)
        t, b = self.frames, self.batch
        want = (t, b, self.beam_sizes[self.end_choice])
        if arr.shape != want:
            raise ValueError(f"end_flags has shape {arr.shape}, expected [T, batch, K_end] = {want}")
        self.end_flags = arr

    # -- properties ----------------------------------------------------------------------------

    @property
    def frames(self) -> int:
        """Number of frames ``T`` (loop iterations RETURNN ran)."""
        return int(self.labels[self.choices[0]].shape[0])

    @property
    def batch(self) -> int:
        """Batch size ``B`` (without beam)."""
        return int(self.labels[self.choices[0]].shape[1])

    @property
    def latest_choice(self) -> str:
        """The frame's latest choice: every resolved output is in its beam."""
        return self.choices[-1]

    @property
    def end_index(self) -> int | None:
        """Position of ``end_choice`` in :attr:`choices`, or None."""
        return None if self.end_choice is None else self.choices.index(self.end_choice)

    def __repr__(self) -> str:
        return (f"SearchTrace(rec={self.rec!r}, choices={self.choices!r}, beam_sizes={self.beam_sizes!r}, "
                f"frames={self.frames}, batch={self.batch})")

    def _repr_svg_(self) -> str:
        """Jupyter: the backtracking lattice as SVG (needs Graphviz's ``dot``)."""
        from ..interfaces.notebook import repr_svg  # a display hook: the interface layer, on demand

        return repr_svg(self)

    def tensor_inputs(self) -> dict[str, Any]:
        """The arrays :func:`searchgraph.tf.backtrack` needs, as a nest of NumPy arrays.

        ``{"labels": (...), "src_beams": (...), "scores": [T, B, K_latest]}`` with one entry per
        choice in frame order, plus ``"end_flags"`` if the loop has an end layer. Static settings
        (``end_index``, ``include_eos``) are :attr:`end_index` and :attr:`include_eos`.
        """
        out: dict[str, Any] = {
            "labels": tuple(self.labels[c] for c in self.choices),
            "src_beams": tuple(self.src_beams[c] for c in self.choices),
            "scores": self.scores[self.latest_choice],
        }
        if self.end_flags is not None:
            out["end_flags"] = self.end_flags
        return out

    # -- persistence ---------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": "searchgraph.SearchTrace", "version": FORMAT_VERSION, "rec": self.rec,
            "choices": self.choices, "beam_sizes": self.beam_sizes, "end_choice": self.end_choice,
            "include_eos": self.include_eos, "meta": self.meta,
            **({"records": list(self.records)} if self.records else {}),
        }

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the trace to ``path`` (one ``.npz``; the name is used as given) atomically.

        The file is written to a temporary file in the same directory and then moved into place,
        so readers never see a partial file.

        Raises
        ------
        FileExistsError
            If ``path`` exists and ``overwrite`` is false.
        TypeError
            If :attr:`meta` is not JSON-serialisable.
        """
        path = Path(path)
        try:
            meta_json = json.dumps(self._metadata(), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"SearchTrace.meta must be JSON-serialisable: {exc}") from exc
        if not overwrite and path.exists():
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        arrays: dict[str, np.ndarray] = {"meta_json": np.array(meta_json)}
        for i, c in enumerate(self.choices):
            arrays[f"labels_{i}"] = self.labels[c]
            arrays[f"src_beams_{i}"] = self.src_beams[c]
            arrays[f"scores_{i}"] = self.scores[c]
        for name in ("end_flags", "final_lengths", "final_scores"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        for i, name in enumerate(self.records):
            arrays[f"record_{i}"] = self.records[name]
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)
                fh.flush()
                os.fchmod(fh.fileno(), 0o644)  # mkstemp's 0600 is too private for a data file
                os.fsync(fh.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                _move_no_clobber(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SearchTrace:
        """Read a trace written by :meth:`save` (validated like :meth:`from_arrays`).

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        TraceFileError
            (a ValueError) If the file is not an ``.npz`` SearchTrace of a known format version, or
            its arrays fail validation; the message names the file and the problem.
        """
        path = Path(path)
        hint = "write one with `searchgraph trace --capture CONFIG --save FILE` or SearchTrace.save()"
        with open(path, "rb") as fh:  # FileNotFoundError / IsADirectoryError as they are
            magic = fh.read(4)
        if magic != b"PK\x03\x04":  # np.load would try other formats (and mention pickles)
            raise TraceFileError("not a trace file (not an .npz archive)", where=str(path), hint=hint)
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise TraceFileError(f"damaged trace file: {exc}", where=str(path), hint=hint) from None
        try:
            with data:
                if "meta_json" not in data.files:
                    raise TraceFileError("not a SearchTrace file (no meta_json)", where=str(path), hint=hint)
                meta = json.loads(str(data["meta_json"]))
                if not isinstance(meta, dict):
                    raise TraceFileError("not a SearchTrace file (meta_json is not an object)",
                                         where=str(path), hint=hint)
                if meta.get("format") != "searchgraph.SearchTrace" or meta.get("version") != FORMAT_VERSION:
                    raise TraceFileError(f"unsupported trace format {meta.get('format')!r} version "
                                         f"{meta.get('version')!r} (this searchgraph reads "
                                         f"searchgraph.SearchTrace version {FORMAT_VERSION})",
                                         where=str(path))
                choices = meta["choices"]
                missing = [f"{key}_{i}" for key in ("labels", "src_beams", "scores")
                           for i in range(len(choices)) if f"{key}_{i}" not in data.files]
                if missing:
                    raise TraceFileError(f"damaged trace file: no array {', '.join(missing)}",
                                         where=str(path), hint=hint)
                per = {key: {c: data[f"{key}_{i}"] for i, c in enumerate(choices)}
                       for key in ("labels", "src_beams", "scores")}
                opt = {n: (data[n] if n in data.files else None)
                       for n in ("end_flags", "final_lengths", "final_scores")}
                records = {name: data[f"record_{i}"] for i, name in enumerate(meta.get("records", []))}
                return cls(rec=meta["rec"], choices=choices, beam_sizes=meta["beam_sizes"], **per, **opt,
                           end_choice=meta["end_choice"], include_eos=meta["include_eos"],
                           meta=meta["meta"], records=records)
        except TraceFileError:
            raise
        except KeyError as exc:
            raise TraceFileError(f"damaged trace file: its metadata has no {exc.args[0]!r}", where=str(path),
                                 hint=hint) from None
        except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise TraceFileError(f"damaged trace file: {exc}", where=str(path), hint=hint) from None


def _move_no_clobber(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path``, raising FileExistsError instead of replacing an existing file."""
    try:
        os.link(tmp, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
    except OSError:  # no hard links on this file system: best effort
        if path.exists():
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)
