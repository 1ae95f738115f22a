"""``searchgraph`` command line: argument parsing, rich output, exit codes.

Exit codes: 0 fine, 1 the network has errors RETURNN would raise, 2 unusable input.
No logic of its own: every command calls the pipeline stages and prints what they return.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SearchgraphError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXAMPLE", "main"]

def _example() -> Path:
    """The bundled example: inside the installed package, or ``examples/`` of a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "examples", package.parent / "examples"):
        if (folder / "attention_decoder.config").exists():
            return folder / "attention_decoder.config"
    return package.parent / "examples" / "attention_decoder.config"


EXAMPLE = _example()

_COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {}


def _command(name: str) -> Callable[[Callable[[argparse.Namespace, Console], int]],
                                    Callable[[argparse.Namespace, Console], int]]:
    def register(fn: Callable[[argparse.Namespace, Console], int]) -> Callable[..., int]:
        _COMMANDS[name] = fn
        return fn
    return register


def escape(text: str) -> str:
    """rich's markup escape (rich loads only when something is printed through it)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class _LazyConsole:
    """A rich Console made on first use: ``--json`` output never pays rich's import."""

    def __init__(self, **kwargs: Any):
        self._kwargs = kwargs
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return getattr(self._console, name)


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    from ..loading.environment import parse_overrides

    try:
        return parse_overrides(getattr(args, "set", None) or [])
    except ValueError as exc:
        raise SearchgraphError(f"--set {exc}", hint="write --set KEY=VALUE (or ++KEY VALUE, as for RETURNN)") \
            from None


def _declare(args: argparse.Namespace, path: str) -> None:
    """Register the custom layer classes of the nearest pyproject.toml's ``[tool.searchgraph]`` and of
    every ``--layer-classes`` file (TOML / JSON; a .py file is RETURNN's, for ``--returnn``)."""
    from ..graph.declarations import load_layer_class_file, pyproject_layer_classes

    if os.path.exists(path):
        pyproject_layer_classes(path)
    for file in getattr(args, "layer_classes", None) or ():
        load_layer_class_file(file)


def _load(args: argparse.Namespace, path: str | None = None) -> Any:
    from ..loading import load

    _declare(args, path or args.config)
    return load(path or args.config, trust=args.trust, epoch=args.epoch, overrides=_overrides(args))


def _verify(args: argparse.Namespace, analysis: Any) -> tuple[dict[str, Any] | None, list[Any]]:
    """With ``--returnn``: RETURNN's build and run of the config, and the verification findings."""
    if not getattr(args, "returnn", False):
        return None, []
    from ..checks.verify import verify_findings
    from ..search.returnn_verify import verify_returnn

    if not os.path.isfile(args.config):
        raise SearchgraphError("no such file", where=args.config)
    from ..graph.declarations import pyproject_layer_class_files

    files = pyproject_layer_class_files(args.config)
    files += [f for f in getattr(args, "layer_classes", None) or () if f.endswith(".py")]
    answer = verify_returnn(args.config, layer_class_files=files, epoch=args.epoch,
                            overrides=_overrides(args))
    if answer.get("stage") == "worker":
        raise SearchgraphError(f"the RETURNN worker failed: {answer.get('error')}",
                               hint="re-run with SEARCHGRAPH_DEBUG=1 and report it")
    return answer, verify_findings(analysis, answer)


def _returnn_summary(answer: dict[str, Any]) -> str:
    def secs(key: str) -> str:
        return f"{answer[key]:.2f} s" if answer.get(key) is not None else "-"

    if answer.get("ok"):
        verdict = "built the network and ran one search without error"
    else:
        where = f" on {answer['error_layer']}" if answer.get("error_layer") else ""
        verdict = {"load": "could not load the config", "construct": "raised while building the network",
                   "run": "built the network; the search run raised"}.get(answer.get("stage", ""), "failed")
        verdict += f"{where}: {answer.get('error')}"
    return (f"RETURNN (search mode, CPU, random weights) {verdict} [construction {secs('construct_s')}, "
            f"run {secs('run_s')}, total {secs('total_s')}]")


def _answer_json(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: answer.get(k) for k in ("ok", "stage", "error", "error_type", "error_layer", "mismatches",
                                       "custom", "unknown_classes", "returnn_version", "construct_s", "run_s",
                                       "total_s")}


@_command("load")
def _cmd_load(args: argparse.Namespace, console: Console) -> int:
    spec = _load(args)
    report = spec.report
    layers = _count_layers(spec.network)
    if args.json:
        _print_json({"report": report.to_json() if report else None, "layers": layers,
                     "network": spec.network, "extern_data": spec.extern_data, "num_outputs": spec.num_outputs,
                     "target": spec.target, "search_output_layer": spec.search_output_layer})
        return 0
    from .console_load import load_report_view

    console.print(load_report_view(spec, layers))
    return 0


def _count_layers(net: Any) -> int:
    if not isinstance(net, dict):
        return 0
    total = 0
    for layer in net.values():
        total += 1
        if isinstance(layer, dict):
            total += sum(_count_layers(layer.get(k)) for k in ("unit", "subnetwork"))
    return total


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1, sort_keys=True) + "\n")


@_command("graph")
def _cmd_graph(args: argparse.Namespace, console: Console) -> int:
    from ..graph import build_layer_graph, graph_to_json
    from .console import graph_tree

    g = build_layer_graph(_load(args))
    if args.json:
        _print_json(graph_to_json(g))
        return 0
    console.print(graph_tree(g))
    for warning in g.graph["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    return 0


@_command("beams")
def _cmd_beams(args: argparse.Namespace, console: Console) -> int:
    from ..checks import analyze

    analysis = analyze(_load(args), mode=args.mode)
    if args.layer is not None:
        _require_layer(analysis, args.layer, args.mode)
    if args.returnn and args.mode != "search":
        raise SearchgraphError("--returnn verifies the search mode", hint="drop --mode train")
    answer, checked = _verify(args, analysis)
    if args.json:
        data = analysis.to_json()
        if args.layer is not None:
            data = {"layers": {args.layer: data["layers"][args.layer]}}
        if answer is not None:
            data["returnn"] = {**_answer_json(answer), "layers": answer.get("layers"),
                               "findings": [f.to_json() for f in checked]}
        _print_json(data)
    elif args.layer is not None:
        from .console import layer_detail

        console.print(layer_detail(analysis, args.layer))
    else:
        from .console import beam_table

        console.print(beam_table(analysis))
        for warning in analysis.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if answer is not None and not args.json:
        from .console import findings_view

        console.print(escape(_returnn_summary(answer)), highlight=False)
        if checked:
            console.print(findings_view(checked, analysis))
    if answer is not None:
        return 1 if any(f.severity == "error" for f in checked) or analysis.errors else 0
    return 1 if analysis.errors else 0


@_command("plan")
def _cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from ..analysis.plan import plan_network
    from ..checks import analyze
    from .console import plan_tree

    analysis = analyze(_load(args))
    plan = plan_network(analysis)
    if args.layer is not None:
        _require_layer(analysis, args.layer, "search")
        plan.layers = {args.layer: plan.layers[args.layer]}
        plan.frames = [f for f in plan.frames if f.layer == args.layer]
    if args.json:
        _print_json(plan.to_json())
    else:
        console.print(plan_tree(plan, analysis, show_all=args.all or args.layer is not None))
    errors = any(i.error for p in plan.layers.values() for i in p.inputs)
    return 1 if errors or analysis.errors else 0


def _require_layer(analysis: Any, layer: str, mode: str) -> None:
    from ..errors import NetworkError

    if layer not in analysis.layers:
        import difflib

        close = difflib.get_close_matches(layer, list(analysis.layers), n=3)
        raise NetworkError(f"no layer {layer!r} is constructed in {mode} mode", where=layer,
                           hint=f"did you mean {', '.join(close)}?" if close else
                           "use RETURNN's absolute name, e.g. output/s")


@_command("diagnose")
def _cmd_diagnose(args: argparse.Namespace, console: Console) -> int:
    from ..checks import analyze, diagnose
    from .console import findings_view

    if args.render is not None:
        _check_output(args.render, args.force)
    analysis = analyze(_load(args))
    findings = diagnose(analysis, compare_modes=args.compare_modes)
    answer, checked = _verify(args, analysis)
    findings = checked + findings
    if args.json:
        data: dict[str, Any] = {"findings": [f.to_json() for f in findings]}
        if answer is not None:
            data["returnn"] = _answer_json(answer)
        _print_json(data)
    else:
        if answer is not None:
            console.print(escape(_returnn_summary(answer)), highlight=False)
        console.print(findings_view(findings, analysis))
    if args.render is not None:
        from ..render import write_network

        culprits = list(dict.fromkeys(f.layer for f in findings
                                      if f.severity in ("error", "warning") and f.layer in analysis.layers))
        write_network(analysis, args.render, force=args.force, mark=culprits)
        out = _LazyConsole(stderr=True, width=console.width) if args.json else console
        out.print(f"wrote {escape(args.render)}" + (f" ({len(culprits)} layer{'s' if len(culprits) != 1 else ''}"
                                                    " with findings marked)" if culprits else ""),
                  highlight=False)
    return 1 if any(f.severity == "error" for f in findings) else 0


def _check_output(path: str, force: bool) -> None:
    """Fail early (exit 2) on an output file that exists (without --force) or has no known format."""
    from ..render import format_for

    format_for(path)
    if Path(path).is_dir():
        raise SearchgraphError("is a folder", where=path, hint="name a file, e.g. net.svg")
    if Path(path).exists() and not force:
        raise SearchgraphError("the file exists", where=path, hint="pass --force to replace it")


@_command("render")
def _cmd_render(args: argparse.Namespace, console: Console) -> int:
    """The beam-flow diagram into a file (format from its suffix); 1 if some layer has an error."""
    from ..checks import analyze
    from ..render import write_network

    _check_output(args.output, args.force)
    analysis = analyze(_load(args), mode=args.mode)
    if args.focus is not None:
        _require_layer(analysis, args.focus, args.mode)
    plans = None
    if args.mode == "search":
        from ..analysis.plan import plan_network

        plans = plan_network(analysis)
    if args.returnn and args.mode != "search":
        raise SearchgraphError("--returnn verifies the search mode", hint="drop --mode train")
    answer, checked = _verify(args, analysis)
    marked = list(dict.fromkeys(f.layer for f in checked if f.layer in analysis.layers))
    write_network(analysis, args.output, force=args.force, plans=plans, rankdir=args.rankdir,
                  collapse_depth=args.collapse, focus=args.focus, hide_beamless=args.hide_beamless,
                  show_options=args.show_options, mark=marked)
    if answer is not None:
        console.print(escape(_returnn_summary(answer)), highlight=False)
        for f in checked:
            console.print(f"[{'red' if f.severity == 'error' else 'yellow'}]{f.code}[/] {escape(f.layer)}: "
                          f"{escape(f.title)}", highlight=False)
        if any(f.severity == "error" for f in checked):
            return 1
    errors = len(analysis.errors)
    console.print(f"wrote {escape(args.output)}: {len(analysis.layers)} layers, {len(analysis.beams())} "
                  f"beam{'s' if len(analysis.beams()) != 1 else ''}"
                  + (f", {errors} layer{'s' if errors != 1 else ''} with errors (red)" if errors else ""),
                  highlight=False)
    return 1 if errors else 0


@_command("docs")
def _cmd_docs(args: argparse.Namespace, console: Console) -> int:
    """A static HTML site: an index and one page per network (diagram, beams, plans, findings)."""
    from rich.console import Console

    from .docsite import build_site

    site = build_site(args.configs, args.output, force=args.force, jobs=args.jobs, trust=args.trust,
                      progress=Console(stderr=True, width=console.width))
    for page in site.pages:
        for warning in page.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if page.error:
            message, _, hint = page.error.partition("\nhint: ")
            if not message.startswith(page.config):
                message = f"{page.config}: {message}"
            console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
            if hint:
                console.print(f"[bold]hint:[/] {escape(hint)}", highlight=False)
    failed = sum(not p.ok for p in site.pages)
    console.print(f"wrote {escape(str(site.out / 'index.html'))}: {len(site.pages) - failed} network page"
                  f"{'s' if len(site.pages) - failed != 1 else ''}"
                  + (f", {failed} config{'s' if failed != 1 else ''} unusable" if failed else ""),
                  highlight=False)
    return site.exit_code


def _input_batch(given: list[str], np: Any) -> Any:
    """``--input`` values as one batch: label ids (``(array, lengths)``), else texts (a list)."""
    words = [g.split() for g in given]
    if all(w and all(x.isdigit() for x in w) for w in words):
        lens = np.array([len(w) for w in words], np.int32)
        arr = np.zeros((len(words), int(lens.max())), np.int32)
        for i, w in enumerate(words):
            arr[i, :len(w)] = [int(x) for x in w]
        return arr, lens
    return list(given)


def _seq_list(specs: list[str] | None) -> list[int] | None:
    """``["0-3", "7"]`` -> ``[0, 1, 2, 3, 7]``."""
    if not specs:
        return None
    out: list[int] = []
    for spec in specs:
        first, _, last = spec.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise SearchgraphError(f"--seq {spec}: not a sequence index or range I-J", where=spec)
        out += list(range(int(first), int(last or first) + 1))
    return out


def _capture_dataset(args: argparse.Namespace) -> Any:
    """``--dataset``: batches of sequences with progress on stderr, saved and resumed with ``--save``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..search.capture_set import capture_sequences

    if args.input is not None:
        raise SearchgraphError("give --input or --dataset, not both", where="--input")
    seqs = _seq_list(args.seq) or list(range(args.batch or 1))
    err = Console(stderr=True)
    common = {"batch": args.batch or len(seqs), "checkpoint": args.checkpoint, "record": args.record or "auto",
              "save": args.save, "force": args.force, "seed": args.seed, "weight_scale": args.weight_scale,
              "rec": args.rec}
    spec = _load(args, args.capture)
    if not err.is_terminal:
        def plain(p: Any) -> None:
            left = f", about {p.left:.0f} s left" if p.left else ""
            err.print(f"captured {p.done}/{p.total} sequences{left}"
                      + (f" ({p.resumed} from {args.save})" if p.resumed else ""), highlight=False)

        return capture_sequences(spec, args.dataset, seqs, progress=plain, **common)
    with Progress(TextColumn("capturing"), BarColumn(), MofNCompleteColumn(), TextColumn("sequences"),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("capture", total=None)

        def show(p: Any) -> None:
            bar.update(task, total=p.total, completed=p.done)

        return capture_sequences(spec, args.dataset, seqs, progress=show, **common)


@_command("trace")
def _cmd_trace(args: argparse.Namespace, console: Console) -> int:
    """A recorded beam search: n-best lists and per-frame beams; 1 if it disagrees with RETURNN's result."""
    from ..search.backtrack import backtrack
    from ..search.trace import SearchTrace
    from .console_trace import check_against_returnn, trace_view

    if (args.trace is None) == (args.capture is None):
        raise SearchgraphError("give either a trace file or --capture CONFIG",
                               hint="searchgraph trace FILE.npz, or searchgraph trace --capture CONFIG")
    if args.save is not None and args.capture is None:
        raise SearchgraphError("--save needs --capture", where=args.save, hint="the trace is a file already")
    resumable = args.save if args.dataset is not None else None  # extended, not replaced
    for out in (args.save, args.output, args.attention):
        if out is not None and out != resumable and Path(out).exists() and not args.force:
            raise SearchgraphError("the file exists", where=out, hint="pass --force to replace it")
    if args.capture is not None:
        from ..search.returnn import CaptureError, capture_search

        try:
            import numpy as np

            inputs = None
            if args.input:
                inputs = {"data": _input_batch(args.input, np)}
            if args.dataset is not None:
                trace = _capture_dataset(args)
            else:
                trace, _ = capture_search(_load(args, args.capture), inputs=inputs,
                                          seed=args.seed, batch=args.batch or 2, max_len=args.max_len,
                                          weight_scale=args.weight_scale, rec=args.rec,
                                          checkpoint=args.checkpoint, record=args.record or "auto")
        except CaptureError as exc:
            if os.environ.get("SEARCHGRAPH_DEBUG") and exc.log:
                sys.stderr.write(exc.log + "\n")
            raise
        if args.save is not None and args.dataset is None:
            try:
                trace.save(args.save, overwrite=args.force)
            except OSError as exc:
                exists = isinstance(exc, FileExistsError)
                raise SearchgraphError(f"cannot write the trace: {exc.strerror or exc}", where=args.save,
                                       hint="pass --force to replace it" if exists else "check the folder"
                                       ) from None
    else:
        path = Path(args.trace)
        if not path.is_file():
            raise SearchgraphError("no such file" if not path.exists() else "not a file", where=args.trace,
                                   hint="name a .npz trace written by searchgraph trace --capture ... --save")
        trace = SearchTrace.load(path)
    if args.entry is not None and not 0 <= args.entry < trace.batch:
        raise SearchgraphError(f"--entry {args.entry} is out of range: the trace has batch entries "
                               f"0..{trace.batch - 1}", where=args.trace or args.capture)
    result = backtrack(trace)
    console.print(trace_view(trace, entries=None if args.entry is None else [args.entry],
                             frames=not args.no_frames, result=result, width=console.width))
    if args.save is not None:
        console.print(f"saved {escape(args.save)}", highlight=False)
    if args.output is not None:
        from ..render import write_lattice

        write_lattice(trace, args.output, force=args.force, result=result)  # OutputExistsError: exit 2
        console.print(f"wrote {escape(args.output)}", highlight=False)
    if args.attention is not None:
        from ..render.attention import hypothesis_heatmaps, write_attention

        if not trace.records:
            raise SearchgraphError("the trace has no recorded attention", where=args.attention,
                                   hint="capture with --record LAYER (a softmax_over_spatial of the loop)")
        name = next(iter(trace.records))
        entry = args.entry or 0
        maps = hypothesis_heatmaps(trace, result, name, entry, best=min(3, trace.beam_sizes[trace.latest_choice]))
        write_attention(maps, args.attention, force=args.force,
                        title=f"{name}, batch entry {entry}")
        console.print(f"wrote {escape(args.attention)}", highlight=False)
    return 0 if check_against_returnn(trace, result).ok else 1


@_command("demo")
def _cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from ..checks import analyze
    from ..graph import build_layer_graph
    from ..loading import load
    from .console import beam_table, graph_tree

    spec = load(EXAMPLE)
    console.rule(f"[bold]searchgraph demo[/] — {EXAMPLE.name}")
    console.print(graph_tree(build_layer_graph(spec)))
    analysis = analyze(spec)
    console.print(beam_table(analysis))
    from ..analysis.plan import plan_network
    from .console import plan_tree

    console.print(plan_tree(plan_network(analysis), analysis))
    from ..checks import diagnose
    from .console import findings_view

    console.print(findings_view(diagnose(analysis), analysis))
    _demo_diagrams(args, console, analysis, plan_network(analysis))
    return 0


_DEMO_MARKER = ".searchgraph-demo"


def _demo_diagrams(args: argparse.Namespace, console: Console, analysis: Any, plans: Any) -> None:
    """The demo's files: the example's beam-flow diagram (SVG, HTML) and its search lattice.

    They go to ``args.output`` (default ``searchgraph-demo/``), a folder the demo made (it holds a
    marker file) or a new one; any other existing folder is left alone unless ``--force``.
    """
    from ..render import RenderError, write_lattice, write_network
    from ..search.backtrack import backtrack
    from ..search.trace import SearchTrace

    out = Path(getattr(args, "output", None) or "searchgraph-demo")  # also `searchgraph` with no command
    force = getattr(args, "force", False)
    if out.exists() and not out.is_dir():
        raise SearchgraphError("not a folder", where=str(out), hint="name a folder for the demo's diagrams (-o DIR)")
    if out.is_dir() and any(out.iterdir()) and not (out / _DEMO_MARKER).exists() and not force:
        raise SearchgraphError("the folder exists and was not made by the demo", where=str(out),
                               hint="pick another folder with -o DIR, or pass --force to write into it")
    out.mkdir(parents=True, exist_ok=True)
    (out / _DEMO_MARKER).write_text("written by `searchgraph demo`; its files are replaced on the next run\n")
    trace_path = EXAMPLE.with_suffix(".trace.npz")
    written: list[tuple[str, Path]] = []
    try:
        for suffix in (".svg", ".html"):
            written.append(("beam-flow diagram", write_network(analysis, out / f"{EXAMPLE.stem}{suffix}",
                                                               force=True, plans=plans)))
        if trace_path.exists():
            trace = SearchTrace.load(trace_path)
            result = backtrack(trace)
            for suffix in (".svg", ".html"):
                written.append(("backtracking lattice", write_lattice(
                    trace, out / f"{EXAMPLE.stem}.lattice{suffix}", force=True, result=result)))
    except RenderError as exc:
        console.print(f"[yellow]no diagrams:[/] {escape(str(exc))}", highlight=False)
        return
    console.rule("[bold]diagrams")
    for what, path in written:
        console.print(f"{what:22} {escape(str(path))}", highlight=False)
    console.print("open the .html files in a browser: hover a layer to see its inputs and beam path",
                  style="dim")


@_command("doctor")
def _cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    """The environment, as far as searchgraph's optional parts care (no heavy imports)."""
    import importlib.metadata as md
    import shutil

    def version(*packages: str) -> str:
        for pkg in packages:
            try:
                return f"{md.version(pkg)} ({pkg})"
            except md.PackageNotFoundError:
                continue
        return "[red]missing[/]"

    rows = [("python", sys.version.split()[0]),
            ("searchgraph", version("searchgraph")),
            ("networkx", version("networkx")), ("rich", version("rich")),
            ("graphviz", version("graphviz")),
            ("tensorflow", version("tensorflow-cpu", "tensorflow")),
            ("returnn", version("returnn") + " (the oracle; optional)"),
            ("dm-tree", version("dm-tree")),
            ("dot", shutil.which("dot") or "[red]missing[/] (apt-get install graphviz)"),
            ("chromium", shutil.which("chromium") or "missing (only for the HTML tests)")]
    gpus = sorted(Path("/proc/driver/nvidia/gpus").glob("*")) if Path("/proc/driver/nvidia").exists() \
        else []
    rows.append(("gpu", f"{len(gpus)} NVIDIA device(s)" if gpus else "none visible"))
    for name, value in rows:
        console.print(f"{name:<13}{value}", highlight=False)
    return 0 if shutil.which("dot") else 1


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust", action="store_true",
                   help="execute the config as RETURNN does (sandboxed subprocess) instead of safe evaluation")
    p.add_argument("--epoch", type=int, default=None,
                   help="epoch for the config's get_network(epoch) (default: its num_epochs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting as RETURNN's command line gives it (also accepted: ++KEY VALUE); "
                        "task is 'search' unless set")
    p.add_argument("--layer-classes", action="append", default=[], metavar="FILE",
                   help="custom layer classes: a .toml / .json declaration (options that name layers, "
                        "beam role), or a .py file of RETURNN layer classes (for --returnn)")


def _returnn_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--returnn", action="store_true",
                   help="also build the network with the installed RETURNN in search mode and run one "
                        "search (subprocess, CPU, random weights and inputs); report where it differs")


def _plus_args(argv: Sequence[str]) -> list[str]:
    """RETURNN's ``++key value`` command-line settings as ``--set key=value``."""
    result: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("++") and len(item) > 2 and i + 1 < len(items):
            value = items[i + 1]
            result += ["--set", f"{item[2:]}={value[1:] if value.startswith('+-') else value}"]
            i += 2
            continue
        result.append(item)
        i += 1
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="searchgraph", description="Make RETURNN's beam search visible and checkable.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("config", help="a RETURNN config file or a JSON network")
        _load_options(p)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    with_config("load", "what loading the config gives: mode, epoch, where the network comes from, "
                        "settings from the command line, stand-ins and refused side effects")
    with_config("graph", "print the layer graph: units, layers and their references")
    beams = with_config("beams", "per layer: its beam, beam size, search choice and placement")
    beams.add_argument("--layer", help="show one layer's choice trace and the path from its choice")
    beams.add_argument("--mode", choices=("search", "train"), default="search")
    _returnn_option(beams)
    plan = with_config("plan", "per layer and input: keep, tile or select through a chain of choices")
    plan.add_argument("--layer", help="only this layer's plan")
    plan.add_argument("--all", action="store_true", help="also list inputs that are kept as they are")
    diag = with_config("diagnose", "predict RETURNN's search-mode errors and explain them")
    diag.add_argument("--compare-modes", action="store_true",
                      help="also list layers that differ between training and search")
    diag.add_argument("--render", metavar="FILE",
                      help="also write the beam-flow diagram with the findings' layers marked "
                           "(.svg, .png, .pdf, .html, .gv)")
    diag.add_argument("--force", action="store_true", help="replace an existing --render file")
    _returnn_option(diag)
    render = sub.add_parser("render", help="draw the beam-flow diagram: svg, png, pdf, html or dot",
                            description="Draw the network with its beams: clusters for rec units and "
                                        "subnetworks, fill by beam, translated inputs labelled with "
                                        "their plan, errors in red. The format comes from the suffix.")
    render.add_argument("config", help="a RETURNN config file or a JSON network")
    render.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the diagram: .svg, .png, .pdf, .html (interactive) or .gv/.dot")
    render.add_argument("--rankdir", choices=("TB", "LR", "BT", "RL"), default="TB",
                        help="direction of the layout (default TB: top to bottom)")
    render.add_argument("--collapse", type=int, default=None, metavar="N",
                        help="draw units nested deeper than N as one node (0: every unit)")
    render.add_argument("--focus", metavar="LAYER",
                        help="highlight LAYER's beam path from its choices, grey the rest")
    render.add_argument("--hide-beamless", action="store_true", help="leave out layers without a beam")
    render.add_argument("--show-options", action="store_true", help="list each layer's options in its node")
    render.add_argument("--mode", choices=("search", "train"), default="search")
    render.add_argument("--force", action="store_true", help="replace FILE if it exists")
    _load_options(render)
    _returnn_option(render)
    docs = sub.add_parser("docs", help="a static HTML site: diagram, beams, plans and findings per network",
                          description="a static HTML site: an index and one page per network with its "
                                      "beam-flow diagram, beam table, translation plans and findings")
    docs.add_argument("configs", nargs="+", metavar="CONFIG", help="RETURNN config files or JSON networks")
    docs.add_argument("-o", "--output", required=True, metavar="DIR", help="the site's folder")
    docs.add_argument("--force", action="store_true",
                      help="replace DIR even if it is not an earlier output of searchgraph docs")
    docs.add_argument("--jobs", type=_positive, default=None, metavar="N",
                      help="configs analysed in parallel (default: one process per CPU)")
    docs.add_argument("--trust", action="store_true",
                      help="execute the configs as Python (as RETURNN does) instead of safe evaluation")
    trace = sub.add_parser("trace", help="a recorded beam search: n-best lists and every frame's beams",
                           description="Show a recorded beam search (a trace file, or one captured "
                                       "from RETURNN now): the n-best lists with lengths and scores and, "
                                       "per frame, which hypothesis came from which. Exit 1 if our "
                                       "backtracking disagrees with RETURNN's result recorded in the trace.")
    trace.add_argument("trace", nargs="?", metavar="TRACE.npz", help="a trace file (SearchTrace.save)")
    trace.add_argument("--capture", metavar="CONFIG",
                       help="run RETURNN's search on this config (CPU, random weights) and record it")
    trace.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (with --capture)")
    trace.add_argument("--batch", type=_positive, default=None,
                       help="batch size (with --capture; default 2, with --dataset every --seq in one batch)")
    trace.add_argument("--max-len", type=_positive, default=6, help="longest random input (with --capture)")
    trace.add_argument("--weight-scale", type=float, default=1.0,
                       help="scale of the random weights: larger, peakier distributions (with --capture)")
    trace.add_argument("--rec", metavar="LAYER",
                       help="the rec layer to record (default: the loop with choices)")
    trace.add_argument("--checkpoint", nargs="?", const="config", metavar="PATH",
                       help="load trained weights (a checkpoint prefix such as model.001; without PATH: "
                            "the one the config's model / load_epoch / load settings name)")
    trace.add_argument("--input", metavar="TEXT", action="append",
                       help="search this input: label ids (\"3 1 4\") or text through the input's vocabulary "
                            "(with --capture; repeat it for a batch)")
    trace.add_argument("--dataset", metavar="NAME", help="search sequences of the config's dataset NAME "
                       "(search_data, dev, ...; with --seq)")
    trace.add_argument("--seq", metavar="I[-J]", action="append",
                       help="dataset sequence I, or I to J, in one batch (repeatable; default: 0..batch-1)")
    trace.add_argument("--record", metavar="LAYER", action="append",
                       help="record a loop layer per frame and hypothesis (default: every "
                            "softmax_over_spatial of the loop)")
    trace.add_argument("--attention", metavar="FILE", help="draw the best hypotheses' attention heat maps "
                       "into FILE (.png or .svg)")
    _load_options(trace)
    trace.add_argument("--save", metavar="OUT.npz", help="save the captured trace (atomically)")
    trace.add_argument("-o", "--output", metavar="FILE", help="also draw the search lattice into FILE")
    trace.add_argument("--force", action="store_true", help="replace existing --save / -o files")
    trace.add_argument("--entry", type=int, default=None, metavar="B", help="show only batch entry B")
    trace.add_argument("--no-frames", action="store_true", help="only the n-best lists, not every frame")
    demo = sub.add_parser("demo", help="the bundled attention decoder: graph, beams, plans, findings, diagrams")
    demo.add_argument("-o", "--output", metavar="DIR", default="searchgraph-demo",
                      help="folder for the diagrams (default: searchgraph-demo)")
    demo.add_argument("--force", action="store_true", help="write into DIR even if the demo did not make it")
    sub.add_parser("doctor", help="report the environment: TensorFlow, RETURNN, dot, GPU")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``searchgraph`` command."""
    parser = build_parser()
    args = parser.parse_args(_plus_args(sys.argv[1:] if argv is None else argv))
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    console: Any = _LazyConsole(width=width)
    err: Any = _LazyConsole(stderr=True, width=width)
    command = args.command or "demo"
    try:
        return _COMMANDS[command](args, console)
    except SearchgraphError as exc:
        where = f"{exc.where}: " if exc.where else ""
        err.print(f"[bold red]error:[/] {escape(where + exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"[bold]hint:[/] {escape(exc.hint)}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("SEARCHGRAPH_DEBUG"):
            raise
        err.print(f"[bold red]internal error:[/] {escape(f'{type(exc).__name__}: {exc}')}\n"
                  "This is a bug in searchgraph; re-run with SEARCHGRAPH_DEBUG=1 for the traceback "
                  "and report it.", highlight=False)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
