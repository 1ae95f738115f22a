"""The subprocess side of trusted loading: run one RETURNN config as ``rnn.py CONFIG ++task search`` would.

Started by :func:`searchgraph.loading.trusted.exec_trusted` as
``python -B _trusted_worker.py REQUEST.json`` (by path, so that neither searchgraph nor the current
directory is on ``sys.path``). Only the standard library is imported here: the Python that runs this file
may be the user's RETURNN environment, without searchgraph. The request names the config, the epoch, the
command-line overrides and a temporary directory; the answer (settings as JSON, what loading did, or the
config's error) is written to ``result.json`` in that directory. Stdout is left to the config.

What runs here, in order:

- a sandbox: file writes outside the temporary directory, sub-processes and network access are refused
  (patched functions for what a config calls, an audit hook as the backstop for everything else);
  modules a config imports that are not installed, and data files it reads that are not on this machine,
  become stand-ins;
- RETURNN's own loader (``returnn.__main__.init_config``) when RETURNN is importable, else an emulation
  of it (``SEARCHGRAPH_TRUSTED_NO_RETURNN=1`` forces the emulation);
- the network RETURNN's engine would build for search: ``get_network(epoch=...)``, else pretrain's final
  network, else ``network``;
- the settings converted to JSON (callables, dims, tuples and other objects in a fixed form).
"""

from __future__ import annotations

import builtins
import copy
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

#: Set (to anything but "" or "0") to load without RETURNN even where it is installed.
NO_RETURNN_ENV = "SEARCHGRAPH_TRUSTED_NO_RETURNN"
EMULATED_LOADER = "emulated (RETURNN not installed)"
#: ``co_filename`` of this file's code (the string Python uses, whatever path started it).
_THIS_FILE = sys._getframe().f_code.co_filename
_MAX_NOTES = 200
_MAX_REPR = 200
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: Standard modules whose functions only pass a config's request on (``Path.mkdir`` -> ``os.mkdir``).
_PASS_THROUGH = ("pathlib.py", "shutil.py", "os.py", "subprocess.py", "genericpath.py", "posixpath.py",
                 "tempfile.py", "_pyio.py")
# -- where things happen ------------------------------------------------------------------------------


class _Places:
    """Which code is the config's: its file (for error locations) and the user's code around it."""

    def __init__(self, config_arg: str) -> None:
        self.config_arg = config_arg
        self.config_abs = os.path.abspath(config_arg)
        self.config_dir = os.path.dirname(self.config_abs)
        #: RETURNN strips the file before it runs it: lines in its code objects are off by this much.
        self.line_offset = 0
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(_THIS_FILE)}
        prefixes.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
        self._foreign = tuple(os.path.abspath(p) + os.sep for p in prefixes if p)
        self._is_config: dict[str, bool] = {}
        self._is_user: dict[str, bool] = {}

    def is_config(self, filename: str) -> bool:
        """Whether code of ``filename`` is the config file itself."""
        known = self._is_config.get(filename)
        if known is None:
            known = filename == self.config_arg or (
                not filename.startswith("<") and os.path.abspath(filename) == self.config_abs)
            self._is_config[filename] = known
        return known

    def is_user(self, filename: str) -> bool:
        """The config file, or a module beside it (in its directory tree, not an installed package)."""
        known = self._is_user.get(filename)
        if known is None:
            full = os.path.abspath(filename)
            known = self.is_config(filename) or (
                not filename.startswith("<") and full.startswith(self.config_dir + os.sep)
                and not full.startswith(self._foreign))
            self._is_user[filename] = known
        return known

    def line(self, frame_filename: str, lineno: int | None) -> str:
        """``file:line`` as the user reads it (the config's lines corrected for RETURNN's strip)."""
        if self.is_config(frame_filename):
            return f"{self.config_arg}:{(lineno or 0) + self.line_offset}"
        return f"{frame_filename}:{lineno}"


def _frames(start: int = 1) -> Iterator[types.FrameType]:
    """Frames from the caller outward, without this file's own frames."""
    frame: types.FrameType | None = sys._getframe(start + 1)
    while frame is not None:
        if frame.f_code.co_filename != _THIS_FILE:
            yield frame
        frame = frame.f_back


def _transparent(filename: str) -> bool:
    """Frames that act for their caller: the import machinery, and code the caller ``eval``/``exec``s."""
    return filename in ("<string>", "<config string>") or filename.startswith("<frozen importlib") \
        or filename.endswith(os.path.join("importlib", "__init__.py"))


# -- the record of what loading did -------------------------------------------------------------------


class _Log:
    """Stand-ins, refusals and notes, each once, with ``file:line``."""

    def __init__(self, places: _Places) -> None:
        self.places = places
        self.lists: dict[str, list[dict[str, str]]] = {"stand_ins": [], "refused": [], "notes": []}
        self._seen: set[tuple[str, str, str]] = set()
        #: What the config itself got instead of the real thing (stand-ins, pretended actions).
        self.affecting: list[str] = []

    def where(self) -> str:
        """The innermost line of the config file on the stack, else the innermost caller outside here."""
        first = None
        for frame in _frames(1):
            if self.places.is_config(frame.f_code.co_filename):
                return self.places.line(frame.f_code.co_filename, frame.f_lineno)
            if first is None and not _transparent(frame.f_code.co_filename):
                first = frame
        return self.places.line(first.f_code.co_filename, first.f_lineno) if first else ""

    def add(self, kind: str, what: str, where: str | None = None, *, affects: bool = True) -> None:
        """Record a note; ``affects``: the config got a stand-in or was told a refused action was done
        (what it computes from then on may differ from RETURNN's)."""
        where = self.where() if where is None else where
        key = (kind, what, where)
        if key in self._seen or len(self.lists[kind]) >= _MAX_NOTES:
            return
        self._seen.add(key)
        self.lists[kind].append({"what": what, "where": where})
        if affects and kind != "notes":
            self.affecting.append(what)

    def _asker(self) -> types.FrameType | None:
        """The frame that made the current call, past this file and functions that pass requests on."""
        for frame in _frames(1):
            filename = frame.f_code.co_filename
            if _transparent(filename) or (filename.endswith(_PASS_THROUGH)
                                          and not self.places.is_user(filename)):
                continue
            return frame
        return None

    def user_asked(self) -> bool:
        """Whether the config's own code (or a module beside it) made the current call.

        The caller is looked for past this file and past standard functions that only pass a request
        on (``shutil.copy`` -> ``copyfile``, ``Path.mkdir`` -> ``os.mkdir``).
        """
        frame = self._asker()
        return frame is not None and self.places.is_user(frame.f_code.co_filename)

    def asker(self) -> str:
        """``file:line`` of the code that made the current call."""
        frame = self._asker()
        return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "?"

    def refuse(self, what: str) -> Refused:
        """Record a refusal of a call the config did not make itself; the error to raise to its caller."""
        self.add("refused", f"{what}: not done, asked by {self.asker()} (raised PermissionError)",
                 affects=False)
        return Refused(f"searchgraph's sandbox refused {what}")

    def config_running(self) -> bool:
        """Whether the config's code is on the stack at all (it called RETURNN, which calls us)."""
        return any(self.places.is_user(frame.f_code.co_filename) for frame in _frames(1))


# -- stand-ins ----------------------------------------------------------------------------------------


class StandIn:
    """What a config gets for a missing module, file, or a refused command's output.

    Every attribute, call, item, and operation gives another stand-in; comparisons are False (``in`` a
    list of host names is False), iteration yields nothing, ``len`` is 0, ``int`` is 0; it can be a base
    class, a context manager and a path; ``str`` names what it stands for.
    """

    __slots__ = ("_kind", "_label")

    def __init__(self, label: str, kind: str = "value") -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_kind", kind)

    def _derived(self, label: str) -> StandIn:
        return StandIn(label, self._kind)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._derived(f"{self._label}.{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        pass

    def __delattr__(self, name: str) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> StandIn:
        return self._derived(f"{self._label}(...)")

    def __getitem__(self, key: Any) -> StandIn:
        return self._derived(f"{self._label}[...]")

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __delitem__(self, key: Any) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __next__(self) -> Any:
        raise StopIteration

    def __reversed__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, item: Any) -> bool:
        return False

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    def __ne__(self, other: object) -> bool:
        return other is not self

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return id(self)

    def __int__(self) -> int:
        return 0

    __index__ = __int__

    def __float__(self) -> float:
        return 0.0

    def __str__(self) -> str:
        return f"<stand-in for {self._label}>"

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        try:
            return format(str(self), spec)
        except (TypeError, ValueError):
            return str(self)

    def __fspath__(self) -> str:
        return str(self)

    def __enter__(self) -> StandIn:  # noqa: PYI034 - a stand-in's subclasses are not stand-ins
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def __copy__(self) -> StandIn:
        return self

    def __deepcopy__(self, memo: Any) -> StandIn:
        return self

    def __instancecheck__(self, instance: Any) -> bool:
        return False

    def __subclasscheck__(self, subclass: Any) -> bool:
        return False

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        name = self._label.rsplit(".", 1)[-1] or "StandIn"
        return (type(name, (StandInBase,), {"__module__": self._label.rsplit(".", 1)[0],
                                            "__qualname__": name}),)

    def _binary(self, *other: Any) -> StandIn:
        return self._derived(self._label)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _binary
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __matmul__ = _binary
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rshift__ = _binary
    __neg__ = __pos__ = __abs__ = __invert__ = __round__ = _binary


class StandInBase:
    """A class deriving from a stand-in derives from this: it takes any arguments, has any attribute."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return StandIn(f"{type(self).__qualname__}.{name}", "import")


class StandInModule(types.ModuleType):
    """A module that is not installed: each attribute is a stand-in, submodules are stand-in modules."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = self._make(name)
        setattr(self, name, value)
        return value

    def _make(self, name: str) -> Any:
        return StandIn(f"{self.__name__}.{name}", "import")


class _StandInLoader(importlib.abc.Loader):
    def __init__(self, factory: Callable[[str], types.ModuleType]) -> None:
        self.factory = factory

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.factory(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _MissingModuleFinder(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: a module the config's own code imports that nothing else found."""

    def __init__(self, log: _Log) -> None:
        self.log = log
        self.loader = _StandInLoader(StandInModule)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        parent = sys.modules.get(fullname.rpartition(".")[0]) if "." in fullname else None
        if not isinstance(parent, StandInModule):
            importer = next((f for f in _frames(1) if not _transparent(f.f_code.co_filename)), None)
            if importer is None or not self.log.places.is_user(importer.f_code.co_filename):
                return None
            self.log.add("stand_ins", f"module {fullname!r} is not installed: a stand-in module takes its "
                                      "place (any attribute, call or subclass of it is a stand-in too)")
        return importlib.machinery.ModuleSpec(fullname, self.loader, is_package=True)


# -- the sandbox --------------------------------------------------------------------------------------


#: Audit events that change files, with the positions of the arguments naming what they change.
_FILE_EVENTS: dict[str, tuple[int, ...]] = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.symlink": (1,),
    "os.link": (1,), "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,),
    "os.mkfifo": (0,), "os.mknod": (0,), "os.chflags": (0,), "os.lchflags": (0,),
    "os.setxattr": (0,), "os.removexattr": (0,), "shutil.copyfile": (1,), "shutil.copymode": (1,),
    "shutil.copystat": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1), "shutil.rmtree": (0,),
    "shutil.chown": (0,), "shutil.make_archive": (0,), "shutil.unpack_archive": (1,)}


class Refused(PermissionError):
    """Raised where the sandbox refuses something and cannot let the caller go on."""


class _Sandbox:
    """Keeps the config from changing anything outside ``tmpdir``; stands in for what is missing."""

    def __init__(self, log: _Log, tmpdir: str) -> None:
        self.log = log
        self.tmpdir = os.path.realpath(tmpdir)
        self.writes_dir = os.path.join(self.tmpdir, "refused-writes")
        self.real_open = builtins.open

    # -- paths

    def allowed(self, path: Any) -> bool:
        """Writes may go to the temporary directory and to ``/dev/null`` (and open descriptors)."""
        if isinstance(path, int):
            return True
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:
            return False
        if text in ("/dev/null", "/dev/stdout", "/dev/stderr"):
            return True
        full = os.path.realpath(text)
        return full == self.tmpdir or full.startswith(self.tmpdir + os.sep)

    @staticmethod
    def describe(path: Any) -> str:
        try:
            return repr(os.fsdecode(os.fspath(path)))
        except TypeError:
            return repr(path)

    def throwaway(self, suffix: str = "") -> str:
        os.makedirs(self.writes_dir, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.writes_dir, suffix=suffix)
        os.close(handle)
        return name

    # -- installation

    def install(self) -> None:
        """Patch what configs call, then add the audit hook (which cannot be removed)."""
        tempfile.tempdir = os.path.join(self.tmpdir, "tmp")
        os.makedirs(tempfile.tempdir, exist_ok=True)
        builtins.open = io.open = self.open  # type: ignore[assignment]
        self._patch_paths()
        self._patch_files()
        self._patch_processes()
        self._patch_readers()
        sys.meta_path.append(_MissingModuleFinder(self.log))
        sys.addaudithook(self.audit)

    def open(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        """``open``: writes outside the temporary directory go to a throw-away file; a missing file
        the config reads is a stand-in."""
        if isinstance(mode, str) and any(c in mode for c in "wax+") and not self.allowed(file):
            name = self.throwaway()
            what = f"open({self.describe(file)}, {mode!r}): the write went to a throw-away file"
            if self.log.user_asked():
                self.log.add("refused", what)
            else:
                self.log.add("refused", f"{what}, asked by {self.log.asker()}", affects=False)
            if "x" in mode:
                mode = mode.replace("x", "w")
            return self.real_open(name, mode, *args, **kwargs)
        try:
            return self.real_open(file, mode, *args, **kwargs)
        except FileNotFoundError:
            if not self.log.user_asked():
                raise
            self.log.add("stand_ins", f"file {self.describe(file)} is not on this machine: reading it "
                                      "gives a stand-in")
            return StandIn(f"contents of {self.describe(file)}")

    def _fake_present(self, real: Callable[..., Any], name: str, answer: Any) -> Callable[..., Any]:
        """``os.path.exists`` and the like: a missing path the config asks about is reported present."""
        def check(path: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = real(path, *args, **kwargs)
            except OSError:
                result = None
            if result is not None and result is not False:
                return result
            try:
                missing = not isinstance(path, int) and not os.path.lexists(path)
            except (TypeError, ValueError):
                missing = False
            if missing and self.log.user_asked():
                self.log.add("stand_ins", f"{name}({self.describe(path)}): not on this machine, "
                                          "reported present")
                return answer
            return real(path, *args, **kwargs) if result is None else result

        check.__name__ = getattr(real, "__name__", name)
        check.__doc__ = getattr(real, "__doc__", None)
        return check

    def _patch_paths(self) -> None:
        for name, answer in (("exists", True), ("isfile", True), ("isdir", True), ("getsize", 0)):
            setattr(os.path, name, self._fake_present(getattr(os.path, name), f"os.path.{name}", answer))
        for name in ("exists", "is_file", "is_dir"):
            real = getattr(pathlib.Path, name)
            fake = self._fake_present(lambda p, *a, _real=real, **k: _real(pathlib.Path(p), *a, **k),
                                      f"Path.{name}", True)
            setattr(pathlib.Path, name, lambda self, *a, _fake=fake, **k: _fake(self, *a, **k))

    def _guard(self, module: Any, name: str, result: Callable[..., Any],
               written: Callable[[tuple[Any, ...], dict[str, Any]], list[Any]]) -> None:
        """Replace ``module.name``: when a path it would change (``written(args, kwargs)``) is outside the
        temporary directory, the config's call does nothing (``result(*args)`` is its answer) and anyone
        else's raises PermissionError."""
        real = getattr(module, name, None)
        if real is None:
            return
        label = f"{getattr(module, '__name__', '?')}.{name}"

        def guarded(*args: Any, **kwargs: Any) -> Any:
            paths = written(args, kwargs)
            if all(self.allowed(p) for p in paths):
                return real(*args, **kwargs)
            named = [a for a in list(args[:2]) + list(kwargs.values())
                     if isinstance(a, (str, bytes, os.PathLike))]
            what = f"{label}({', '.join(self.describe(p) for p in named or paths)})"
            if self.log.user_asked():
                self.log.add("refused", f"{what}: not done")
                return result(*args)
            raise self.log.refuse(what)

        guarded.__name__ = name
        guarded.__doc__ = getattr(real, "__doc__", None)
        setattr(module, name, guarded)

    def _patch_files(self) -> None:
        def arg(index: int, *names: str) -> Callable[[tuple[Any, ...], dict[str, Any]], list[Any]]:
            def written(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
                if len(args) > index:
                    return [args[index]]
                return [kwargs[n] for n in names if n in kwargs][:1]
            return written

        def both(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
            return arg(0, "src")(args, kwargs) + arg(1, "dst")(args, kwargs)

        def extract_dir(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
            return arg(1, "extract_dir")(args, kwargs) or [os.getcwd()]

        none = lambda *a: None
        second = lambda *a: a[1] if len(a) > 1 else None
        for name in ("remove", "unlink", "rmdir", "removedirs", "mkdir", "makedirs", "chmod", "chown",
                     "lchown", "truncate", "utime", "mkfifo", "mknod"):
            self._guard(os, name, none, arg(0, "path", "name"))
        for name in ("rename", "renames", "replace"):
            self._guard(os, name, none, both)
        for name in ("link", "symlink"):
            self._guard(os, name, none, arg(1, "dst"))
        for name in ("copyfile", "copy", "copy2", "copytree"):
            self._guard(shutil, name, second, arg(1, "dst"))
        self._guard(shutil, "move", second, both)
        for name in ("copymode", "copystat"):
            self._guard(shutil, name, none, arg(1, "dst"))
        for name in ("rmtree", "chown"):
            self._guard(shutil, name, none, arg(0, "path"))
        self._guard(shutil, "make_archive", lambda *a: a[0] if a else None, arg(0, "base_name"))
        self._guard(shutil, "unpack_archive", none, extract_dir)

    def _refuse_process(self, module: Any, name: str, result: Callable[[str], Any]) -> None:
        """Replace ``module.name`` (a way to start a process): the config's call gives ``result(cmd)``,
        anyone else's raises PermissionError; nothing is started either way."""
        if getattr(module, name, None) is None:
            return

        def refused(*args: Any, **kwargs: Any) -> Any:
            command = args[0] if args else kwargs.get("args", kwargs.get("cmd", ""))
            what = f"{module.__name__}.{name}({command!r})"
            if self.log.user_asked():
                self.log.add("refused", f"{what}: not run")
                return result(repr(command))
            raise self.log.refuse(what)

        refused.__name__ = name
        setattr(module, name, refused)

    def _patch_processes(self) -> None:
        def output(command: str) -> StandIn:
            return StandIn(f"output of {command}")

        def completed(command: str) -> Any:
            return subprocess.CompletedProcess(command, 0, stdout=output(command), stderr=output(command))

        zero = lambda command: 0
        none = lambda command: None
        self._refuse_process(subprocess, "check_output", output)
        self._refuse_process(subprocess, "getoutput", output)
        self._refuse_process(subprocess, "getstatusoutput", lambda command: (0, output(command)))
        self._refuse_process(subprocess, "run", completed)
        self._refuse_popen()
        for name in ("call", "check_call"):
            self._refuse_process(subprocess, name, zero)
        self._refuse_process(os, "system", zero)
        self._refuse_process(os, "popen", lambda command: StandIn(f"pipe of {command}"))
        for name in ("execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe"):
            self._refuse_process(os, name, none)
        for name in ("spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe"):
            self._refuse_process(os, name, zero)
        for name in ("kill", "killpg"):
            self._refuse_process(os, name, none)

    def _refuse_popen(self) -> None:
        """``subprocess.Popen`` stays a class (others subclass it), whose instances are never made."""
        sandbox = self

        class Popen(subprocess.Popen):  # type: ignore[type-arg]
            def __new__(cls, *args: Any, **kwargs: Any) -> Any:
                command = args[0] if args else kwargs.get("args", "")
                what = f"subprocess.Popen({command!r})"
                if sandbox.log.user_asked():
                    sandbox.log.add("refused", f"{what}: not run")
                    return StandIn(f"process {command!r}")
                raise sandbox.log.refuse(what)

        Popen.__qualname__ = Popen.__name__ = "Popen"
        Popen.__module__ = "subprocess"
        subprocess.Popen = Popen  # type: ignore[misc]

    def _patch_readers(self) -> None:
        """numpy's file readers, ``pickle.load``/``json.load`` of a stand-in file: stand-ins."""
        import json as json_module
        import pickle

        for module, name in ((json_module, "load"), (pickle, "load")):
            real = getattr(module, name)
            setattr(module, name, self._reader(real, f"{module.__name__}.{name}", check_path=False))
        try:
            import numpy
        except ImportError:
            return
        for name in ("loadtxt", "load", "genfromtxt", "fromfile"):
            if hasattr(numpy, name):
                setattr(numpy, name, self._reader(getattr(numpy, name), f"numpy.{name}", check_path=True))

    def _reader(self, real: Callable[..., Any], label: str, *, check_path: bool) -> Callable[..., Any]:
        def read(source: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(source, StandIn):
                return source._derived(f"{label}({source._label})")
            if check_path and isinstance(source, (str, bytes, os.PathLike)) \
                    and not os.path.lexists(source) and self.log.user_asked():
                self.log.add("stand_ins", f"file {self.describe(source)} is not on this machine: "
                                          f"{label} gives a stand-in")
                return StandIn(f"{label}({self.describe(source)})")
            return real(source, *args, **kwargs)

        read.__name__ = getattr(real, "__name__", label)
        read.__doc__ = getattr(real, "__doc__", None)
        return read

    # -- the backstop

    _PROCESS_EVENTS = frozenset((
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "os.kill", "os.killpg", "os.startfile", "pty.spawn", "webbrowser.open"))
    _NETWORK_EVENTS = frozenset((
        "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
        "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "urllib.Request",
        "http.client.connect", "ftplib.connect", "smtplib.connect", "poplib.connect", "imaplib.open",
        "nntplib.connect", "telnetlib.Telnet.open"))
    _WATCHED = frozenset(_FILE_EVENTS) | _PROCESS_EVENTS | _NETWORK_EVENTS | {"open", "sqlite3.connect"}

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """Audit hook: a write, process or network event that the patches did not catch is refused."""
        if event not in self._WATCHED:
            return
        if event == "open":
            path, _mode, flags = args
            if not (flags or 0) & _WRITE_FLAGS or self.allowed(path):
                return
            what = f"writing {self.describe(path)}"
        elif event == "sqlite3.connect":
            if not args or args[0] in (":memory:", b":memory:", "") or self.allowed(args[0]):
                return
            what = f"sqlite3.connect({self.describe(args[0])})"
        elif event in _FILE_EVENTS:
            paths = [args[i] for i in _FILE_EVENTS[event] if i < len(args)]
            paths = [p if p is not None else os.getcwd() for p in paths]
            if all(self.allowed(p) for p in paths):
                return
            what = f"{event}({', '.join(self.describe(p) for p in paths)})"
        elif event == "socket.bind":
            address = args[1] if len(args) > 1 else None
            if isinstance(address, (str, bytes)) and self.allowed(address):
                return  # a Unix socket in the temporary directory
            if isinstance(address, tuple) and address and address[0] in _LOOPBACK:
                return  # reachable from this machine only (urllib3 probes IPv6 this way)
            what = f"network access (socket.bind {address!r})"
        elif event in self._PROCESS_EVENTS:
            what = f"{event}({args[0] if args else ''!r})"
        else:
            what = f"network access ({event})"
        if self.log.user_asked():
            self.log.add("refused", f"{what}: blocked (raised PermissionError)")
            raise Refused(f"searchgraph's sandbox refused {what}")
        raise self.log.refuse(what)


# -- the emulated RETURNN -----------------------------------------------------------------------------


def _shared() -> types.ModuleType:
    """searchgraph's ``loading/returnn_config.py``, loaded by path (this worker runs without searchgraph)."""
    name = "_searchgraph_returnn_config"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__),
                                                                         "returnn_config.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class EmulatedConfig(_shared().ConfigSettings):  # type: ignore[misc]
    """RETURNN's ``Config`` as configs use it: ``typed_dict`` (the file's globals) and ``dict`` (strings
    from the command line and line-based files), read through ``value``/``int``/``bool``/..."""

    def __init__(self, items: dict[str, Any] | None = None) -> None:
        super().__init__(dict(items or {}))
        self.files: list[str] = []
        self.network_topology_json: str | None = None

    # -- reading files and the command line

    def load_file(self, f: Any) -> None:
        """A Python config (``#!`` first, or ``.py``) runs with ``typed_dict`` as its globals; JSON
        (``{`` first) updates it; anything else is ``key value`` lines."""
        if isinstance(f, str):
            assert os.path.isfile(f), f"config file not found: {f!r}"
            self.files.append(f)
            filename, dirname = f, os.path.dirname(f) or "."
            with open(f) as stream:
                content = stream.read()
        else:
            filename, dirname, content = "<config string>", None, f.read()
        content = content.strip()
        if content.startswith("#!") or filename.endswith(".py"):
            if dirname and filename.endswith(".py") and os.path.exists(os.path.join(dirname, "__init__.py")):
                base = os.path.abspath(dirname)
                while os.path.exists(os.path.join(base, "__init__.py")):
                    base = os.path.dirname(base)
                if base not in sys.path:
                    sys.path.insert(0, base)
                package = os.path.relpath(dirname, base).replace(os.sep, ".")
                self.update(vars(importlib.import_module(f"{package}.{os.path.basename(filename)[:-3]}")))
                return
            namespace = self.typed_dict
            namespace.update({"config": self, "__file__": filename, "__name__": "__returnn_config__"})
            namespace["__package__"] = "returnn"
            code = compile(content + "\n", filename, "exec")
            exec(code, namespace, namespace)  # noqa: S102 - trusted mode runs the config, as RETURNN does
            if "__returnn_config__" not in sys.modules:
                sys.modules["__returnn_config__"] = _ConfigModule("__returnn_config__", self)
            return
        if content.startswith("{"):
            loaded = json.loads(content)
            assert isinstance(loaded, dict)
            self.update(loaded)
            return
        for line in content.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 1)
            assert len(parts) == 2, f"unable to parse config line: {parts!r}"
            self.add_line(parts[0], parts[1])

    def parse_cmd_args(self, args: list[str]) -> None:
        """``++key value`` pairs (a value ``+-x`` means ``-x``)."""
        assert len(args) % 2 == 0, f"expect (++key, value) config tuples in remaining args: {args!r}"
        for key, value in zip(args[::2], args[1::2]):
            assert key.startswith("++"), f"expect key prefixed with '++' in ({key!r}, {value!r})"
            if value.startswith("+-"):
                value = value[1:]
            self.add_line(key[2:], value)

    def parse_typed(self, text: str) -> Any:
        """RETURNN evaluates a command-line value for a typed, non-string setting."""
        return eval(text)

    def add_line(self, key: str, value: str) -> None:
        """As RETURNN's: ``include`` loads further config files."""
        if key == "include" and key not in self.typed_dict:
            for name in value.split(",") if value.find(",") > 0 else [value]:
                self.load_file(name)
            return
        super().add_line(key, value)


class _ConfigModule(types.ModuleType):
    """``__returnn_config__``: the config's settings as a module (pickled config functions refer to it)."""

    def __init__(self, name: str, config: EmulatedConfig) -> None:
        super().__init__(name)
        self._config = config

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_config"].typed_dict[name]
        except KeyError:
            raise AttributeError(name) from None


class WrapEpochValue:
    """``Pretrain.WrapEpochValue``: a value that pretraining computes per epoch (``func(epoch=...)``)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def get_value(self, epoch: int) -> Any:
        return self.func(epoch=epoch)


class _DimTypes:
    Unspecified = None
    Batch = "batch"
    Spatial = Time = "spatial"
    Feature = "feature"
    Types = (Batch, Spatial, Feature)


class Dim:
    """RETURNN's ``Dim`` (old name ``DimensionTag``) as a config builds it: kind, description, size."""

    Types = _DimTypes

    def __init__(self, dimension: Any = None, *, kind: Any = None, description: str | None = None,
                 **kwargs: Any) -> None:
        self.dimension = dimension
        self.kind = kind
        self.description = description
        self.kwargs = kwargs

    def is_batch_dim(self) -> bool:
        return self.kind == _DimTypes.Batch

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return StandIn(f"Dim({self.description!r}).{name}", "value")

    def __repr__(self) -> str:
        return f"Dim{{{self.description!r}, {self.dimension!r}}}"


BATCH_DIM = Dim(None, kind=_DimTypes.Batch, description="global batch")


def _spatial_dim(description: str, dimension: Any = None, **kwargs: Any) -> Dim:
    return Dim(dimension, kind=_DimTypes.Spatial, description=description, **kwargs)


def _feature_dim(description: str, dimension: Any, **kwargs: Any) -> Dim:
    return Dim(dimension, kind=_DimTypes.Feature, description=description, **kwargs)


class EmulatedReturnnModule(StandInModule):
    """A RETURNN module without RETURNN: the few names configs use at load time are emulated
    (``WrapEpochValue``, ``Dim``/``DimensionTag``, ``batch_dim``, ``get_global_config``, ``Config``);
    every other name is a stand-in."""

    config: EmulatedConfig | None = None

    def _make(self, name: str) -> Any:
        table: dict[str, Any] = {
            "WrapEpochValue": WrapEpochValue, "Dim": Dim, "DimensionTag": Dim,
            "batch_dim": BATCH_DIM,
            "SpatialDim": _spatial_dim, "FeatureDim": _feature_dim, "Config": EmulatedConfig,
            "get_global_config": lambda *a, **k: EmulatedReturnnModule.config,
            "__version__": "0+emulated",
        }
        return table[name] if name in table else super()._make(name)


class _EmulatedReturnnFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path`` without RETURNN: ``returnn``, ``returnn.*`` and the old module names."""

    def __init__(self, log: _Log) -> None:
        self.log = log
        self.loader = _StandInLoader(EmulatedReturnnModule)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        top = fullname.split(".", 1)[0]
        if top != "returnn" and top not in _shared().OLD_MODULE_NAMES:
            return None
        if "." not in fullname:
            self.log.add("stand_ins", f"RETURNN module {fullname!r}: emulated (RETURNN not installed); "
                                      "names other than WrapEpochValue, Dim/DimensionTag, batch_dim and "
                                      "get_global_config are stand-ins")
        return importlib.machinery.ModuleSpec(fullname, self.loader, is_package=True)


# -- loading ------------------------------------------------------------------------------------------


def _command_line(overrides: dict[str, str]) -> list[str]:
    """``++key value`` arguments (a value starting with ``-`` is written ``+-...``, as RETURNN reads it)."""
    args: list[str] = []
    for key, value in overrides.items():
        args += [f"++{key}", "+" + value if value.startswith("-") else value]
    return args


def _load_with_returnn(path: str, args: list[str], log: _Log) -> Any:
    """RETURNN's own ``init_config``: command line, the file, the command line again. Importing the
    ``returnn`` package sets up its loader of old module names (``TFUtil``, ``Pretrain``, ...)."""
    _shim_dim_without_dimension(log)
    from returnn import __main__ as rnn

    _stand_in_module_files(log)
    init_config = getattr(rnn, "init_config", None)
    params = inspect.signature(init_config).parameters if init_config else {}
    if "config_filename" in params and "command_line_options" in params:
        init_config(config_filename=path, command_line_options=args)
        return rnn.config
    from returnn.config import Config

    config = Config()
    config.parse_cmd_args(args)
    config.load_file(path)
    config.parse_cmd_args(args)
    return config


def _stand_in_module_files(log: _Log) -> None:
    """A module file the config has RETURNN import (``auto_register_layer_classes("../x/hmm.py")``) that
    is not on this machine: a stand-in module, like a module the config imports itself."""
    try:
        from returnn.util import basic
    except ImportError:
        return
    real = getattr(basic, "generic_import_module", None)
    if real is None:
        return
    root = getattr(basic, "returnn_root_dir", "")

    def generic_import_module(filename: Any) -> Any:
        if isinstance(filename, str) and "/" in filename and log.config_running() \
                and not os.path.lexists(filename) and not os.path.lexists(os.path.join(root, filename)):
            log.add("stand_ins", f"module file {filename!r} is not on this machine: a stand-in module "
                                 "takes its place")
            name = os.path.splitext(os.path.basename(filename))[0] or "module"
            return StandInModule(name)
        return real(filename)

    generic_import_module.__doc__ = real.__doc__
    basic.generic_import_module = generic_import_module


def _shim_dim_without_dimension(log: _Log) -> None:
    """``DimensionTag(kind=..., description=...)`` without a dimension, as older RETURNN allowed."""
    try:
        from returnn.tensor import dim as dim_module
    except ImportError:
        return
    cls = dim_module.Dim
    real_init = cls.__init__
    try:
        first = list(inspect.signature(real_init).parameters.values())[1]
    except (TypeError, ValueError, IndexError):
        return
    if first.name != "dimension" or first.default is not inspect.Parameter.empty:
        return
    missing = object()

    def __init__(self: Any, dimension: Any = missing, *args: Any, **kwargs: Any) -> None:
        if dimension is missing:
            if "dimension" in kwargs:
                dimension = kwargs.pop("dimension")
            else:
                dimension = None
                log.add("notes", "Dim()/DimensionTag() without a dimension (older RETURNN allowed it; "
                                 "current RETURNN requires one): loaded with dimension=None")
        real_init(self, dimension, *args, **kwargs)

    __init__.__doc__ = real_init.__doc__
    cls.__init__ = __init__


def _load_emulated(path: str, args: list[str]) -> EmulatedConfig:
    config = EmulatedConfig()
    EmulatedReturnnModule.config = config
    config.parse_cmd_args(args)
    config.load_file(path)
    config.parse_cmd_args(args)
    return config


def _final_epoch(config: Any) -> tuple[int, str]:
    """The epoch of the model search loads: ``load_epoch`` when set, else the last one (``num_epochs``)."""
    load_epoch = config.int("load_epoch", -1) if config.has("load_epoch") else -1
    if isinstance(load_epoch, int) and load_epoch > 0:
        return load_epoch, f"epoch {load_epoch}: the config's load_epoch (the model search loads)"
    num_epochs = config.int("num_epochs", 5)
    return num_epochs, (f"epoch {num_epochs}: the config's last epoch (num_epochs), as for search "
                        "with the final model")


def _pretrain_active(config: Any) -> bool:
    kind = config.bool_or_other("pretrain", None)
    return kind == "default" or kind is True or (isinstance(kind, dict) and bool(kind))


def _select_network(config: Any, epoch: int | None, emulated: bool, log: _Log) -> dict[str, Any]:
    """The network RETURNN's engine builds for search, and how it was chosen."""
    info: dict[str, Any] = {"epoch": None, "network_from": "network"}
    get_network = config.typed_value("get_network")
    if callable(get_network):
        if epoch is None:
            epoch, why = _final_epoch(config)
            log.add("notes", why, "")
        else:
            log.add("notes", f"epoch {epoch}: given", "")
        if _pretrain_active(config):
            log.add("notes", "the config also sets pretrain: get_network gives the network after the "
                             "pretrain epochs", "")
        info.update(epoch=epoch, network_from=f"get_network(epoch={epoch})")
        net = get_network(epoch=epoch)
        assert isinstance(net, dict), f"{get_network} should return dict but returned {type(net)}"
        info["network"] = net
    elif _pretrain_active(config):
        if emulated:
            info["network"] = _emulated_pretrain_final(config, log)
        else:
            from returnn.pretrain import pretrain_from_config

            info["network"] = pretrain_from_config(config).get_final_network_json()
        info["network_from"] = "network (pretrain's final network)"
        log.add("notes", "the config sets pretrain: its final (non-pretrain) network is loaded", "")
    elif config.is_typed("network"):
        info["network"] = config.typed_value("network")
    else:
        info["network_from"] = ""
        log.add("notes", "the config defines neither network nor get_network", "")
    return info


def _emulated_pretrain_final(config: Any, log: _Log) -> Any:
    """Pretrain's final network without RETURNN: the network, with WrapEpochValue resolved for the last
    pretrain epoch (counted for a custom construction_algo; the built-in algorithms are not emulated)."""
    network = config.typed_value("network")
    assert isinstance(network, dict) and network, "Network is not defined in config. Define `network`."
    opts = dict(config.get_of_type("pretrain", dict, {}))
    algo = opts.get("construction_algo", config.value("pretrain_construction_algo", "from_output"))
    steps: list[dict[str, Any]] = []
    if callable(algo):
        while True:
            step = algo(idx=len(steps), net_dict=copy.deepcopy(network))
            if not step:
                break
            steps.append(step)
    elif algo != "no_network_modifications" and _has_wrapped(network):
        log.add("notes", f"emulated loader: pretrain construction_algo {algo!r} is not emulated; "
                         "WrapEpochValue resolved as if pretrain had one step", "")
    final = copy.deepcopy(network)
    steps.append(final)
    reps = opts.get("repetitions")
    if reps is None and config.has("pretrain_repetitions"):
        reps = config.typed_value("pretrain_repetitions") if config.is_typed("pretrain_repetitions") \
            else config.int_list("pretrain_repetitions", None)
    counts = _repetitions(reps, len(steps))
    for i, step in enumerate(steps):
        if isinstance(step, dict) and "#repetition" in step:
            counts[i] = step.pop("#repetition")
    return _resolve_wrapped(final, sum(counts))


def _repetitions(reps: Any, n_steps: int) -> list[int]:
    if not reps:
        return [1] * n_steps
    if isinstance(reps, dict):
        counts = [reps.get("default", 1)] * n_steps
        for key, value in reps.items():
            if key != "default":
                counts[n_steps - 1 if key == "final" else key] = value
        return counts
    reps = list(reps) if isinstance(reps, (list, tuple)) else [reps]
    return reps + [reps[-1]] * (n_steps - len(reps))


def _has_wrapped(value: Any) -> bool:
    if isinstance(value, WrapEpochValue):
        return True
    if isinstance(value, dict):
        return any(_has_wrapped(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_wrapped(v) for v in value)
    return False


def _resolve_wrapped(value: Any, epoch: int) -> Any:
    """WrapEpochValue -> its value: in dicts at any depth, in a list or tuple that holds one directly."""
    if isinstance(value, WrapEpochValue):
        return value.get_value(epoch=epoch)
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _resolve_wrapped(value[key], epoch)
        return value
    if isinstance(value, (list, tuple)) and any(isinstance(v, WrapEpochValue) for v in value):
        return type(value)(_resolve_wrapped(v, epoch) for v in value)
    return value


# -- the answer as JSON -------------------------------------------------------------------------------


def _dim_json(value: Any) -> dict[str, Any] | None:
    names = {cls.__name__ for cls in type(value).__mro__}
    if not names & {"Dim", "DimensionTag"} or not hasattr(value, "description"):
        return None
    try:
        kind = value.kind
        kind = getattr(kind, "name", kind)
        is_batch = bool(value.is_batch_dim()) if callable(getattr(value, "is_batch_dim", None)) else False
        dimension = value.dimension
    except Exception:  # noqa: BLE001 - a dim we cannot read is still a dim
        kind, is_batch, dimension = None, False, None
    out: dict[str, Any] = {"description": value.description,
                           "dimension": dimension if isinstance(dimension, int) else None,
                           "kind": "batch" if is_batch else (str(kind) if kind else "unspecified")}
    if is_batch:
        out["is_batch_dim"] = True
    return {"__dim__": out}


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - any repr may fail
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR - 3] + "..."


def to_json(value: Any, _active: set[int] | None = None) -> Any:
    """A value as JSON: callables ``{"__callable__": qualname}``, dims ``{"__dim__": {...}}``, tuples and
    sets as lists, other objects ``{"__object__": type, "repr": ...}``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value).__module__ == "builtins":
        return value
    if isinstance(value, StandIn):
        return {"__object__": "stand-in", "repr": str(value)}
    active = set() if _active is None else _active
    if id(value) in active:
        return {"__object__": type(value).__name__, "repr": "<cycle>"}
    module = type(value).__module__ or ""
    if module == "numpy" or module.startswith("numpy."):
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            return to_json(value.item(), active)
        if hasattr(value, "tolist") and getattr(value, "size", 10**9) <= 100000:
            return to_json(value.tolist(), active)
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        active.add(id(value))
        try:
            if isinstance(value, dict):
                return {k if isinstance(k, str) else str(k): to_json(v, active) for k, v in value.items()}
            items = list(value)
            if isinstance(value, (set, frozenset)):
                items.sort(key=repr)
            return [to_json(v, active) for v in items]
        finally:
            active.discard(id(value))
    dim = _dim_json(value)
    if dim is not None:
        return dim
    if callable(value):
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        return {"__callable__": name if isinstance(name, str) else type(value).__qualname__}
    return {"__object__": type(value).__name__, "repr": _short_repr(value)}


def _is_setting(name: str, value: Any, config: Any) -> bool:
    if name == "network":
        return True
    if name.startswith("_") or value is config or isinstance(value, types.ModuleType):
        return False
    if isinstance(value, StandIn):
        return value._kind != "import"
    return not callable(value) and type(value).__name__ != "_Feature"


def settings_json(config: Any, network: dict[str, Any]) -> dict[str, Any]:
    """The plain-data settings: ``typed_dict`` (the file's globals) and the string settings."""
    out: dict[str, Any] = {}
    for name, values in getattr(config, "dict", {}).items():
        if name not in config.typed_dict and not name.startswith("_"):
            out[name] = values[0] if isinstance(values, list) and len(values) == 1 else to_json(values)
    for name, value in list(config.typed_dict.items()):
        if _is_setting(name, value, config):
            out[name] = to_json(value)
    if "network" in network:
        out["network"] = to_json(network["network"])
    else:
        out.pop("network", None)
    return out


# -- errors -------------------------------------------------------------------------------------------


def _error_json(exc: BaseException, places: _Places, log: _Log) -> dict[str, Any]:
    """The config's exception: its text, the innermost line of the config file, and whether the sandbox
    (a stand-in or a refusal) may have caused it."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f.lineno for f in frames if places.is_config(f.filename)]
    if isinstance(exc, SyntaxError) and exc.filename and places.is_config(exc.filename):
        lines.append(exc.lineno)
    where = places.line(places.config_arg, lines[-1]) if lines and lines[-1] else places.config_arg
    text = f"the config raised {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    if isinstance(exc, SystemExit):
        text = f"the config called sys.exit({exc.code!r})"
    inner = frames[-1] if frames else None
    if inner is not None and not places.is_config(inner.filename) and inner.filename != _THIS_FILE \
            and not isinstance(exc, SyntaxError):
        text += f" (raised in {inner.filename}:{inner.lineno})"
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    refused = any(isinstance(e, Refused) for e in chain)
    # Raised by a stand-in itself (e.g. asked for a dunder it does not have): the sandbox's doing.
    last = exc.__traceback__
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    from_stand_in = last is not None and last.tb_frame.f_code in _stand_in_code()
    return {"message": text[:4000], "where": where, "refused": refused, "stand_in": from_stand_in,
            "suspects": log.affecting[:20]}


def _stand_in_code() -> set[types.CodeType]:
    """The code of the stand-ins' methods."""
    return {getattr(v, "__code__", None) for cls in (StandIn, StandInBase, StandInModule)
            for v in vars(cls).values()} - {None}


# -- main ---------------------------------------------------------------------------------------------


def _returnn_available() -> bool:
    if os.environ.get(NO_RETURNN_ENV, "") not in ("", "0"):
        return False
    try:
        return importlib.util.find_spec("returnn") is not None
    except (ImportError, ValueError):
        return False


def _run(request: dict[str, Any]) -> dict[str, Any]:
    path = request["path"]
    places = _Places(path)
    log = _Log(places)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            text = stream.read()
        dirname = os.path.dirname(path) or "."
        imported = path.endswith(".py") and os.path.exists(os.path.join(dirname, "__init__.py"))
        if not imported:  # RETURNN runs the stripped text (a .py file in a package it imports instead)
            places.line_offset = text[:len(text) - len(text.lstrip())].count("\n")
    except OSError:
        pass
    use_returnn = _returnn_available()
    sandbox = _Sandbox(log, request["tmpdir"])
    sandbox.install()
    if not use_returnn:
        sys.meta_path.insert(0, _EmulatedReturnnFinder(log))
    args = _command_line(request["overrides"])
    answer: dict[str, Any] = {}
    try:
        if use_returnn:
            config = _load_with_returnn(path, args, log)
            import returnn

            answer["loader"] = f"returnn {getattr(returnn, '__version__', '(unknown version)')}"
        else:
            config = _load_emulated(path, args)
            answer["loader"] = EMULATED_LOADER
        network = _select_network(config, request.get("epoch"), not use_returnn, log)
        answer["settings"] = settings_json(config, network)
        if "tensorflow" in sys.modules:
            log.add("notes", "TensorFlow was imported while loading (the config uses it, or an old "
                             "TensorFlow module name of RETURNN's)", "")
        answer.update(epoch=network["epoch"], network_from=network["network_from"])
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - every error of the config is reported
        answer.setdefault("loader", "returnn" if use_returnn else EMULATED_LOADER)
        answer["error"] = _error_json(exc, places, log)
    answer.update(log.lists)
    return answer


def main(argv: list[str]) -> int:
    """Read the request, load the config, write ``result.json`` beside the request; exit at once after
    (no interpreter shutdown, so nothing the config registered runs)."""
    if len(argv) != 2:
        print("usage: python -B _trusted_worker.py REQUEST.json", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(_THIS_FILE))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.dont_write_bytecode = True
    with open(argv[1], encoding="utf-8") as stream:
        request = json.load(stream)
    real_open, real_exit = builtins.open, os._exit
    result_path = os.path.join(request["tmpdir"], "result.json")
    try:
        answer = _run(request)
        text = json.dumps(answer)
    except BaseException as exc:  # noqa: BLE001 - report anything rather than a traceback
        text = json.dumps({"crash": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
    with real_open(result_path, "w", encoding="utf-8") as stream:
        stream.write(text)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a closed stream is no reason to fail
            pass
    real_exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
