"""Turning DOT source into files: Graphviz's ``dot`` for svg/png/pdf, our template for html.

The only part of :mod:`searchgraph.render` that runs programs or touches the file system. Files are
written atomically (a temporary file in the target folder, then a link or ``os.replace``) and an
existing file is never replaced unless ``force`` is given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import SearchgraphError

__all__ = ["FORMATS", "OutputExistsError", "RenderError", "format_for", "render_bytes", "write", "write_bytes"]

#: Output formats, and the file suffixes that select them.
FORMATS = ("dot", "svg", "png", "pdf", "html")
_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf",
             ".html": "html", ".htm": "html"}
_DOT_TIMEOUT_S = 600


class RenderError(SearchgraphError):
    """A diagram that cannot be made: no Graphviz ``dot``, an unknown format, ``dot`` failed."""


class OutputExistsError(RenderError, FileExistsError):
    """The output file exists and ``force`` was not given (also a :class:`FileExistsError`)."""


def _dot_binary() -> str:
    found = shutil.which("dot")
    if found is None:
        raise RenderError("Graphviz's dot program is not installed (it draws svg, png, pdf and html)",
                          hint="install Graphviz: apt-get install graphviz (or brew install graphviz); "
                               "'.gv'/'.dot' output needs no dot")
    return found


def run_dot(dot_source: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` on ``dot_source``; :class:`RenderError` with dot's message if it fails."""
    binary = _dot_binary()
    try:
        proc = subprocess.run([binary, f"-T{fmt}"], input=dot_source.encode("utf-8"),
                              capture_output=True, timeout=_DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot did not finish within {_DOT_TIMEOUT_S} s",
                          hint="draw less: --collapse N, --hide-beamless or --focus LAYER") from None
    except OSError as exc:
        raise RenderError(f"cannot run dot: {exc.strerror or exc}", where=binary,
                          hint="reinstall Graphviz") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"dot failed (exit {proc.returncode}): {message[0] if message else 'no message'}",
                          hint="this is a bug in searchgraph's DOT output if dot itself works; "
                               "write a .gv file to see the source")
    return proc.stdout


def render_bytes(dot_source: str, fmt: str) -> bytes:
    """The diagram in ``fmt`` (one of :data:`FORMATS`): the DOT source itself, or ``dot``'s output,
    or one self-contained HTML page (the SVG inline plus a little JavaScript)."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown diagram format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return dot_source.encode("utf-8")
    if fmt == "html":
        from .html import html_page

        return html_page(dot_source, run_dot(dot_source, "svg").decode("utf-8")).encode("utf-8")
    return run_dot(dot_source, fmt)


def format_for(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for, from its suffix (``.gv``/``.dot``, ``.svg``, ``.png``,
    ``.pdf``, ``.html``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise RenderError(f"cannot tell the diagram format from the suffix {suffix or '(none)'!r}",
                          where=str(path), hint="name the file .svg, .png, .pdf, .html, .gv or .dot")
    return _SUFFIXES[suffix]


def _write_atomic(data: bytes, path: Path, *, force: bool) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise RenderError("the folder does not exist", where=str(path), hint="create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if the path exists: never clobbers, even in a race
        except FileExistsError:
            raise OutputExistsError("the file exists", where=str(path),
                                    hint="pass --force (force=True) to replace it") from None
        except OSError:  # a file system without hard links
            if path.exists():
                raise OutputExistsError("the file exists", where=str(path),
                                        hint="pass --force (force=True) to replace it") from None
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(data: bytes, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically, never over an existing file unless ``force``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``force`` is False.
    RenderError
        The folder does not exist, or ``path`` is a folder.
    """
    path = Path(path)
    if not force and (path.exists() or path.is_symlink()):
        raise OutputExistsError("the file exists", where=str(path),
                                hint="pass --force (force=True) to replace it")
    if path.is_dir():
        raise RenderError("is a folder", where=str(path), hint="name a file")
    _write_atomic(data, path, force=force)
    return path


def write(dot_source: str, path: str | os.PathLike[str], *, force: bool = False,
          fmt: str | None = None) -> Path:
    """Write the diagram to ``path`` (format from its suffix unless ``fmt`` is given), atomically.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``force`` is False (nothing is written, nothing is run).
    RenderError
        An unknown format, no ``dot``, or ``dot`` failed.
    """
    path = Path(path)
    fmt = fmt or format_for(path)
    if fmt not in FORMATS:
        raise RenderError(f"unknown diagram format {fmt!r}", where=str(path),
                          hint=f"use one of {', '.join(FORMATS)}")
    if not force and (path.exists() or path.is_symlink()):
        raise OutputExistsError("the file exists", where=str(path),
                                hint="pass --force (force=True) to replace it")
    if path.is_dir():
        raise RenderError("is a folder", where=str(path), hint="name a file")
    _write_atomic(render_bytes(dot_source, fmt), path, force=force)
    return path
