"""Trusted mode: run a RETURNN config the way ``rnn.py CONFIG ++task search`` loads it, in a sandbox.

The file runs in a fresh Python subprocess (:mod:`._trusted_worker`), with RETURNN's own loader when that
Python has RETURNN (else an emulation of it, and the report says so), in the user's current directory:

- RETURNN's globals: ``config`` (whose ``typed_dict`` is the file's globals), ``__file__``, ``__name__``;
  ``++task search`` and the overrides apply before and after the file runs; old module names
  (``from Pretrain import WrapEpochValue``, ``import TFUtil``) resolve through RETURNN's loader;
- the network is ``get_network(epoch=...)`` (the epoch given, else the config's ``load_epoch`` or
  ``num_epochs``), else pretrain's final network, else ``network``;
- modules that are not installed, data files that are not on this machine, and ``os.path.exists`` checks
  of the config on missing paths get stand-ins; file writes outside a temporary directory,
  sub-processes and network access are refused (the config goes on where it can), all listed in the
  :class:`~searchgraph.loading.report.LoadReport`.

The settings come back as JSON: callables ``{"__callable__": qualname}``, dims ``{"__dim__": {...}}``,
tuples as lists, other objects ``{"__object__": type, "repr": ...}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .report import LoadNote, LoadReport

__all__ = ["DEFAULT_TIMEOUT", "NO_RETURNN_ENV", "WORKER", "exec_trusted"]

#: Seconds a config may take to load (TensorFlow's import alone takes a few).
DEFAULT_TIMEOUT = 120.0
#: The subprocess's script, run by path (it needs only the standard library).
WORKER = Path(__file__).with_name("_trusted_worker.py")
#: Set to ``1`` to load with the emulated RETURNN loader even where RETURNN is installed.
NO_RETURNN_ENV = "SEARCHGRAPH_TRUSTED_NO_RETURNN"
_SAME_HINT = "RETURNN fails the same way when it loads this file"
_OUTPUT_TAIL = 1500


def exec_trusted(path: str | os.PathLike[str], *, epoch: int | None = None,
                 overrides: dict[str, str] | None = None, python: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> tuple[dict[str, Any], LoadReport]:
    """Run a config as RETURNN loads it for search, in a sandboxed subprocess; its settings and report.

    Parameters
    ----------
    path : the config file (run with the current directory as it is, as RETURNN would).
    epoch : the epoch for ``get_network(epoch=...)``; default: the config's ``load_epoch`` if set, else
        its ``num_epochs`` (RETURNN's default 5), the epoch search of the final model uses.
    overrides : command-line settings as strings, as ``++key value`` gives them; ``task`` is
        ``"search"`` unless given here.
    python : the Python to run the config with (default: this one); with RETURNN installed there, its
        loader runs the file, else an emulation (also forced by ``SEARCHGRAPH_TRUSTED_NO_RETURNN=1``).
    timeout : seconds before the subprocess is stopped.

    Returns
    -------
    The plain-data settings (``network`` is the network RETURNN's engine would build for search), and the
    :class:`LoadReport` (mode ``"trusted"``).

    Raises
    ------
    ConfigError : the file is missing, the config raises (at its innermost line in the file), or the
        subprocess fails or times out.
    """
    source = os.fspath(path)
    if not os.path.isfile(source):
        raise ConfigError(f"no such file: {source}", hint="check the path")
    given = {str(k): str(v) for k, v in (overrides or {}).items()}
    for key in given:
        if not key or any(c.isspace() for c in key):
            raise ConfigError(f"bad override name {key!r}", hint="names are config keys, e.g. beam_size")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1):
        raise ConfigError(f"bad epoch {epoch!r}", hint="epochs are whole numbers from 1")
    settings_overrides = {"task": "search", **given}
    answer = _run_worker(source, epoch, settings_overrides, python or sys.executable, timeout)
    report = LoadReport(source=source, mode="trusted", loader=answer.get("loader", ""),
                        epoch=answer.get("epoch"), network_from=answer.get("network_from", ""),
                        overrides=dict(settings_overrides), stand_ins=_notes(answer, "stand_ins"),
                        refused=_notes(answer, "refused"), notes=_notes(answer, "notes"))
    if "error" in answer:
        raise _config_error(answer["error"], report)
    return answer["settings"], report


def _notes(answer: dict[str, Any], key: str) -> list[LoadNote]:
    return [LoadNote(n.get("what", ""), n.get("where", "")) for n in answer.get(key, [])]


def _run_worker(source: str, epoch: int | None, overrides: dict[str, str], python: str,
                timeout: float) -> dict[str, Any]:
    """Start the worker on one request; its answer, or a ConfigError for a crash or a timeout."""
    with tempfile.TemporaryDirectory(prefix="searchgraph-trusted-") as tmp:
        request = {"path": source, "epoch": epoch, "overrides": overrides, "tmpdir": tmp}
        request_path = os.path.join(tmp, "request.json")
        with open(request_path, "w", encoding="utf-8") as stream:
            json.dump(request, stream)
        os.mkdir(os.path.join(tmp, "tmp"))  # the worker's TMPDIR: libraries' temporary files go there
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", TMPDIR=os.path.join(tmp, "tmp"))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.Popen([python, "-B", str(WORKER), request_path], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        except OSError as exc:
            raise ConfigError(f"cannot start {python}: {exc}", where=source,
                              hint="pass the path of a Python interpreter") from None
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ConfigError(f"loading the config took longer than {timeout:g} s and was stopped",
                              where=source, hint="a config that loads this slowly may wait for "
                              "something that is not there; raise the timeout if it is just slow") from None
        except BaseException:  # Ctrl-C does not reach the worker (its own session): stop it here
            _kill(proc)
            raise
        result_path = os.path.join(tmp, "result.json")
        try:
            with open(result_path, encoding="utf-8") as stream:
                answer = json.load(stream)
        except (OSError, ValueError):
            tail = output.decode("utf-8", "replace").strip()[-_OUTPUT_TAIL:]
            how = f"exited with status {proc.returncode}" if proc.returncode >= 0 \
                else f"was killed by signal {-proc.returncode}"
            raise ConfigError(f"the Python running the config {how} without an answer"
                              + (f"; its last output:\n{tail}" if tail else ""), where=source,
                              hint="the config (or a module it imports) ended the process; RETURNN would "
                              "stop there too") from None
    if "crash" in answer:
        raise ConfigError(f"trusted loading failed: {answer['crash']}", where=source,
                          hint="this is searchgraph's fault, not the config's; please report it")
    return answer


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the worker and anything it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):  # no process groups (Windows), or already gone
        proc.kill()
    proc.communicate()


def _config_error(error: dict[str, Any], report: LoadReport) -> ConfigError:
    """The config's exception as a ConfigError; the hint says whether RETURNN fails the same way."""
    message = error["message"]
    suspects = error.get("suspects") or []
    if error.get("refused"):
        hint = ("searchgraph's sandbox refused something the config needed (see the report's refused "
                "list); RETURNN itself would have done it")
    elif error.get("stand_in"):
        hint = ("a stand-in for something missing on this machine cannot be used this way: "
                + _listed(suspects))
    elif suspects:
        hint = ("this may come from a stand-in or a refused action (" + _listed(suspects) + "); RETURNN may "
                "load the file on the machine it was written for")
    else:
        hint = _SAME_HINT
    exc = ConfigError(message, where=error.get("where") or report.source, hint=hint)
    exc.report = report  # type: ignore[attr-defined]  # what loading did before it failed
    return exc


def _listed(items: list[str]) -> str:
    text = "; ".join(items[:3])
    return text + (f"; and {len(items) - 3} more" if len(items) > 3 else "")
