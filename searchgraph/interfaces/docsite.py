"""``searchgraph docs``: a static HTML site over many networks.

One page per network (its beam-flow diagram, beam table, translation plans and findings) and an
index with a row per network. Plain HTML with a little inline CSS, no scripts from elsewhere: the
folder can be opened from disk or served as it is. Configs are analysed in parallel, in worker
processes; a config that cannot be used becomes an error row on the index, never a crash. The site
is built in a temporary folder beside the target and swapped in when complete.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SearchgraphError

__all__ = ["MARKER", "NetworkPage", "Site", "beam_rows", "build_site", "network_page"]

#: The file that marks a folder as ``searchgraph docs`` output (safe to replace without --force).
MARKER = ".searchgraph-docs.json"
_GENERATOR = "searchgraph docs"

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:80rem;
 padding:1rem 2rem;color:#1d1d1f;background:#fff}
h1{font-size:1.6rem;margin:.4rem 0}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
a{color:#0b5cad}nav{font-size:.9rem}.meta{color:#555}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}
th,td{border-bottom:1px solid #e4e4e4;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f6}td.num{text-align:right}code,td.mono{font-family:ui-monospace,monospace}
.err,td.err{color:#b00020}.warn{color:#8a5a00}.info{color:#1d4f91}.ok{color:#1b7f3b}
.beam{padding:0 .35rem;border-radius:.25rem;font-family:ui-monospace,monospace}
.diagram{overflow:auto;border:1px solid #e4e4e4;padding:.5rem;max-height:90vh}
.diagram svg{max-width:100%;height:auto}
.finding{border-left:4px solid #999;padding:.3rem .8rem;margin:.8rem 0;background:#fafafa}
.finding.error{border-color:#b00020}.finding.warning{border-color:#c08000}.finding.info{border-color:#1d4f91}
pre{white-space:pre-wrap;background:#f4f4f6;padding:.4rem .6rem;font-size:.85rem}
footer{margin-top:3rem;color:#777;font-size:.8rem}
"""

@dataclass(frozen=True)
class NetworkPage:
    """One network's page, or the error that kept it from being made (plain data: crosses processes).

    ``error`` is the clean message (``where: message`` and the hint) when the config is unusable;
    ``warnings`` are problems with the page itself (e.g. no diagram because ``dot`` is missing).
    """

    config: str
    slug: str
    error: str | None = None
    layers: int = 0
    choices: int = 0
    beams: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    html: str = ""
    diagram_html: bytes = b""
    dot: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Site:
    """What :func:`build_site` wrote: the folder and one :class:`NetworkPage` per config, in order."""

    out: Path
    pages: list[NetworkPage]

    @property
    def exit_code(self) -> int:
        """The CLI's: 2 no config usable, 1 some config unusable or a network with errors, 0 clean."""
        if self.pages and not any(p.ok for p in self.pages):
            return 2
        bad = any(not p.ok or p.findings.get("error") for p in self.pages)
        return 1 if bad else 0


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def beam_rows(analysis: Any) -> list[dict[str, Any]]:
    """The beam table as records: ``layer``, ``class`` and the ``beams --json`` fields, in display
    order (each unit's layers right after the unit)."""
    from .console import display_order

    return [{"layer": name, "class": analysis.layers[name].cls, **analysis.layers[name].to_json()}
            for name in display_order(analysis)]


def _beam_span(name: str | None, fills: dict[str, str], title: str = "") -> str:
    if not name:
        return '<span class="meta">—</span>'
    style = f"background:{fills.get(name, '#eee')}"
    if "prev:" in name:
        style += ";outline:1px dashed #888"
    tip = f' title="{_e(title)}"' if title else ""
    return f'<span class="beam" style="{style}"{tip}>{_e(name)}</span>'


def _table(head: Sequence[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; cells are HTML already, a cell starting with ``\\x00num`` is right-aligned."""
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for cell in row:
            if cell.startswith("\x00"):
                kind, _, cell = cell[1:].partition("\x00")
                cells.append(f'<td class="{kind}">{cell}</td>')
            else:
                cells.append(f"<td>{cell}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _beam_section(rows: list[dict[str, Any]], fills: dict[str, str]) -> str:
    body = []
    for r in rows:
        choice = ('<span class="meta">= beam</span>' if r["choice"] and r["choice"] == r["beam"]
                  else _beam_span(r["choice"], fills))
        body.append([
            ("\x00mono err\x00" if r["error"] else "\x00mono\x00") + _e(r["layer"]), _e(r["class"]),
            _e(r["placement"]), _beam_span(r["beam"], fills, " ← ".join(r["beam_chain"])),
            "\x00num\x00" + _e(r["beam_size"] if r["beam_size"] is not None else ""), choice,
            "\x00err\x00" + _e(r["error"] or "")])
    return _table(["layer", "class", "placement", "beam", "size", "choice", "error"], body, "beams")


def _plan_section(plans: Any, fills: dict[str, str]) -> str:
    rows = []
    kept = 0
    for name, lp in plans.layers.items():
        for item in lp.inputs:
            if item.action == "keep" and not item.error:
                kept += 1
                continue
            how = item.describe().split("  ", 1)[-1]
            rows.append([("\x00mono\x00") + _e(name), "\x00mono\x00" + _e(item.input), _e(item.option),
                         ("\x00err\x00" if item.error else "") + _e(how), _beam_span(lp.choice, fills)])
    parts = [_table(["layer", "input", "option", "translation", "into"], rows, "plans") if rows else
             "<p>No input is tiled or selected: every layer gets its inputs on the beam they carry.</p>",
             f'<p class="meta">{kept} input{"s" if kept != 1 else ""} kept as they are.</p>']
    if plans.frames:
        frames = [["\x00mono\x00" + _e(f.rec), "\x00mono\x00" + _e(f.layer),
                   _e(f.plan.describe().split("  ", 1)[-1])] for f in plans.frames]
        parts.append("<h3>End of frame</h3><p>Values read as <code>prev:</code> in the next frame, "
                     "re-selected into the frame's newest choice.</p>"
                     + _table(["rec", "layer", "translation"], frames, "frames"))
    return "\n".join(parts)


def _finding_section(findings: list[Any]) -> str:
    if not findings:
        return '<p class="ok">No findings: this network builds in search mode as far as searchgraph ' \
               "can tell.</p>"
    out = []
    for f in findings:
        parts = [f'<div class="finding {_e(f.severity)}" id="{_e(f.code)}-{_e(f.layer)}">',
                 (f'<p><b class="{_e(f.severity[:4])}">{_e(f.code)} {_e(f.severity)}</b> on '
                  f"<code>{_e(f.layer)}</code>: <b>{_e(f.title)}</b></p>")]
        if f.returnn_message:
            parts.append(f"<pre>RETURNN: {_e(f.returnn_message)}</pre>")
        parts.append(f"<p><b>why:</b> {_e(f.reason)}</p><p><b>fix:</b> {_e(f.fix)}</p>")
        if f.traces:
            parts.append("<p><b>choice traces:</b></p><ul>" + "".join(
                f"<li><code>{_e(' ← '.join(t))}</code></li>" for t in f.traces) + "</ul>")
        out.append("\n".join(parts) + "</div>")
    return "\n".join(out)


def _svg_body(text: str) -> str:
    """The ``<svg>`` element of dot's output (no XML prolog or doctype, so it can sit in HTML)."""
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _page(title: str, body: str, *, nav: str = "") -> str:
    from ..version import __version__

    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)} — searchgraph</title>\n<style>{_CSS}</style></head>\n<body>\n"
            f"{nav}{body}\n<footer>made by searchgraph {_e(__version__)}</footer>\n</body></html>\n")


def _clean_error(exc: BaseException) -> str:
    if isinstance(exc, SearchgraphError):
        where = f"{exc.where}: " if exc.where else ""
        return where + exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    return f"internal error: {type(exc).__name__}: {exc}"


def network_page(config: str, slug: str, trust: bool = False) -> NetworkPage:
    """Analyse one config and make its page; an unusable config gives a page with ``error`` set.

    Runs in a worker process: takes and returns plain data.
    """
    from ..analysis.plan import plan_network
    from ..checks import analyze, diagnose
    from ..graph.layers import get_layer_class

    try:
        from ..loading import load

        analysis = analyze(load(config, trust=trust))
        plans = plan_network(analysis)
        findings = diagnose(analysis)
    except Exception as exc:  # noqa: BLE001 -- one bad config is an error row, never a crash of the site
        return NetworkPage(config, slug, error=_clean_error(exc))
    from ..render.network import beam_fills

    fills = beam_fills(analysis)  # the diagram's colours; ``prev:`` beams are dashed in the tables
    rows = beam_rows(analysis)
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    choices = sum(get_layer_class(lb.cls).beam_role == "choice" for lb in analysis.layers.values())
    warnings: list[str] = []
    diagram, interactive, dot = "", b"", ""
    try:
        from ..render import network_dot, render_bytes
        from ..render.html import html_page

        # the layers diagnose blames for an error get a double border
        culprits = sorted({f.layer for f in findings if f.severity == "error" and f.layer in analysis.layers})
        dot = network_dot(analysis, plans=plans, mark=culprits)
        svg = render_bytes(dot, "svg").decode("utf-8")
        diagram = _svg_body(svg)
        interactive = html_page(dot, svg).encode("utf-8")  # what render_bytes(dot, "html") gives, one dot run
    except Exception as exc:  # noqa: BLE001 -- no dot, or dot failed: the page says so
        warnings.append(f"{config}: no diagram: {_clean_error(exc)}")
    name = Path(config).name
    summary = (f"{len(rows)} layers · {choices} choice{'s' if choices != 1 else ''} · "
               f"{len(analysis.beams())} beam{'s' if len(analysis.beams()) != 1 else ''} · "
               + ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items()))
    source = f' · <a href="{_e(slug)}.gv">DOT source</a>' if dot else ""
    diagram_part = (f'<div class="diagram">{diagram}</div>\n<p><a href="{_e(slug)}.diagram.html">'
                    f"Interactive diagram</a> (hover a layer to see its inputs and beam path){source}.</p>"
                    if diagram else f'<p class="err">{_e(warnings[0])}</p>'
                    + (f'<p class="meta"><a href="{_e(slug)}.gv">DOT source</a></p>' if dot else ""))
    body = (f"<h1>{_e(name)}</h1>\n<p class=\"meta\"><code>{_e(config)}</code> · {_e(summary)}</p>\n"
            f'<section id="diagram"><h2>Beam flow</h2>\n{diagram_part}</section>\n'
            f'<section id="beams"><h2>Beams</h2>\n{_beam_section(rows, fills)}</section>\n'
            f'<section id="plans"><h2>Translation plans</h2>\n{_plan_section(plans, fills)}</section>\n'
            f'<section id="findings"><h2>Findings</h2>\n{_finding_section(findings)}</section>\n'
            f'<p class="meta"><a href="{_e(slug)}.json">All of it as JSON</a> (the <code>beams</code>, '
            "<code>plan</code> and <code>diagnose</code> commands' <code>--json</code> data).</p>")
    data = {"config": config, "beams": analysis.to_json(), "plans": plans.to_json(),
            "findings": [f.to_json() for f in findings]}
    nav = '<nav><a href="index.html">← all networks</a></nav>\n'
    return NetworkPage(config, slug, layers=len(rows), choices=choices, beams=len(analysis.beams()),
                       findings=counts, warnings=tuple(warnings), html=_page(name, body, nav=nav),
                       diagram_html=interactive, dot=dot, data=data)


def _index(pages: list[NetworkPage]) -> str:
    rows = []
    for p in pages:
        if not p.ok:
            rows.append(f'<tr class="failed"><td class="mono">{_e(Path(p.config).name)}</td>'
                        f'<td class="mono">{_e(p.config)}</td><td colspan="6" class="err">'
                        f"<pre>{_e(p.error)}</pre></td></tr>")
            continue
        f = p.findings
        rows.append(
            f'<tr><td class="mono"><a href="{_e(p.slug)}.html">{_e(Path(p.config).name)}</a></td>'
            f'<td class="mono">{_e(p.config)}</td><td class="num">{p.layers}</td>'
            f'<td class="num">{p.choices}</td><td class="num">{p.beams}</td>'
            f'<td class="num{" err" if f["error"] else ""}">{f["error"]}</td>'
            f'<td class="num{" warn" if f["warning"] else ""}">{f["warning"]}</td>'
            f'<td class="num">{f["info"]}</td></tr>')
    failed = sum(not p.ok for p in pages)
    head = "".join(f"<th>{h}</th>" for h in ("network", "config", "layers", "choices", "beams",
                                             "errors", "warnings", "infos"))
    body = (f"<h1>Networks</h1>\n<p class=\"meta\">{len(pages)} config{'s' if len(pages) != 1 else ''}"
            + (f", {failed} unusable" if failed else "") + ". Beams, choices and findings as RETURNN "
            "builds each network in search mode.</p>\n"
            f'<table class="index"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(rows)
            + "\n</tbody></table>")
    return _page("networks", body)


def _slugs(configs: Sequence[str]) -> list[str]:
    used = {"index"}
    out = []
    for config in configs:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(config).stem).strip("._") or "network"
        slug, n = base, 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        out.append(slug)
    return out


def _is_ours(folder: Path) -> bool:
    try:
        return json.loads((folder / MARKER).read_text("utf-8")).get("generator") == _GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SearchgraphError("this exists and is not a folder", where=str(out),
                               hint="name a folder for the site with -o DIR")
    if out.is_dir() and any(out.iterdir()) and not _is_ours(out) and not force:
        raise SearchgraphError("the folder is not empty and is not an output of searchgraph docs",
                               where=str(out),
                               hint="choose an empty or new folder, or add --force to replace it")


def _analyse_all(configs: Sequence[str], slugs: list[str], trust: bool, jobs: int,
                 step: Callable[[str], None]) -> list[NetworkPage]:
    if jobs <= 1 or len(configs) <= 1:
        pages = []
        for config, slug in zip(configs, slugs):
            pages.append(network_page(config, slug, trust))
            step(config)
        return pages
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    # no fork: the progress bar's thread may hold a lock at fork time
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    results: list[NetworkPage | None] = [None] * len(configs)
    with ProcessPoolExecutor(max_workers=min(jobs, len(configs)), mp_context=ctx) as pool:
        futures = {pool.submit(network_page, c, s, trust): i
                   for i, (c, s) in enumerate(zip(configs, slugs))}
        for future in as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # noqa: BLE001 -- a worker that died (out of memory, say)
                results[i] = NetworkPage(configs[i], slugs[i], error=f"worker failed: {exc!r}")
            step(configs[i])
    return [p for p in results if p is not None]


def _write_tree(folder: Path, pages: list[NetworkPage]) -> None:
    for page in pages:
        if not page.ok:
            continue
        (folder / f"{page.slug}.html").write_text(page.html, "utf-8")
        (folder / f"{page.slug}.json").write_text(json.dumps(page.data, indent=1, sort_keys=True) + "\n",
                                                  "utf-8")
        if page.diagram_html:
            (folder / f"{page.slug}.diagram.html").write_bytes(page.diagram_html)
        if page.dot:
            (folder / f"{page.slug}.gv").write_text(page.dot, "utf-8")
    (folder / "index.html").write_text(_index(pages), "utf-8")
    from ..version import __version__

    marker = {"generator": _GENERATOR, "version": __version__,
              "pages": [{"config": p.config, "page": f"{p.slug}.html" if p.ok else None,
                         "error": p.error} for p in pages]}
    (folder / MARKER).write_text(json.dumps(marker, indent=1) + "\n", "utf-8")


def _write_error(target: Path, exc: OSError) -> SearchgraphError:
    what = exc.strerror or str(exc)
    if exc.filename and os.fspath(exc.filename) != str(target):
        what += f": {os.fspath(exc.filename)}"
    return SearchgraphError(f"cannot write the site ({what})", where=str(target),
                            hint="the folder above it must be a writable folder (and the disk not full)")


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp``: two renames in one folder, the old site restored if the second fails."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old"
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_site(configs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
               force: bool = False, jobs: int | None = None, trust: bool = False,
               progress: Any = None) -> Site:
    """Build the site for ``configs`` into folder ``out``.

    Parameters
    ----------
    configs : RETURNN config or JSON files, one page each (in this order on the index).
    out : the site's folder. A non-empty folder that is not an earlier output of this function is
        refused (:class:`SearchgraphError`) unless ``force``.
    jobs : worker processes (default: one per config, at most the CPU count); 1 runs in-process.
    trust : execute configs as Python (RETURNN's way) instead of the safe evaluation.
    progress : a ``rich.console.Console`` to show a progress bar on, or None.
    """
    names = [os.fspath(c) for c in configs]
    target = Path(out).expanduser().absolute()
    _check_target(target, force)
    try:  # before the analysis: a site that cannot be written fails at once
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise _write_error(target, exc) from None
    slugs = _slugs(names)
    jobs = jobs if jobs is not None else min(len(names), os.cpu_count() or 1)
    try:
        if progress is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("[bold]docs[/]"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TextColumn("{task.description}"), console=progress,
                           transient=False)
            with bar:
                task = bar.add_task("", total=len(names))
                pages = _analyse_all(names, slugs, trust, jobs,
                                     lambda c: bar.update(task, advance=1, description=Path(c).name))
                bar.update(task, description="")
        else:
            pages = _analyse_all(names, slugs, trust, jobs, lambda c: None)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a site is for reading
            _write_tree(tmp, pages)
            _check_target(target, force)  # still true after the (long) analysis?
            _swap_in(tmp, target)
        except OSError as exc:
            raise _write_error(target, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Site(target, pages)
