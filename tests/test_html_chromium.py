"""The interactive HTML diagram in a real headless Chromium (Debian's ``chromium``, driven by
Playwright's Python package; no browser download): it loads without console errors or network
requests, hovering a node highlights its inputs and beam path, the search box finds layers, pan and
zoom move the view, and a screenshot is not blank."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import searchgraph
from searchgraph.analysis.plan import plan_network
from searchgraph.render import beam_path, lattice_dot, network_dot, render_bytes
from searchgraph.search.trace import SearchTrace

from .conftest import ROOT, need

EXAMPLE = ROOT / "examples" / "attention_decoder.config"
TRACE = ROOT / "examples" / "attention_decoder.trace.npz"
CHROMIUM = os.environ.get("SEARCHGRAPH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(shutil.which("dot") is not None, "Graphviz's dot is not installed")
    need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "Playwright's Python package is not installed (pip install playwright)")
        raise
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def example() -> searchgraph.Analysis:
    return searchgraph.analyze(EXAMPLE)


class Page:
    """One loaded page, with its console errors and every request it made."""

    def __init__(self, browser: Any, html: bytes, tmp_path: Path):
        path = tmp_path / "diagram.html"
        path.write_bytes(html)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        self.url = path.as_uri()

    def node_id(self, name: str) -> str:
        return self.page.evaluate(
            "name => Object.keys(JSON.parse(document.getElementById('sg-meta').textContent).nodes)"
            ".find(k => JSON.parse(document.getElementById('sg-meta').textContent).nodes[k].name === name)",
            name)

    def classes(self, selector: str) -> dict[str, list[str]]:
        return self.page.evaluate(
            "sel => Object.fromEntries([...document.querySelectorAll(sel)].map(e => [e.id, [...e.classList]]))",
            selector)

    def names_with(self, cls: str) -> set[str]:
        return set(self.page.evaluate(
            "cls => { const m = JSON.parse(document.getElementById('sg-meta').textContent).nodes;"
            " return [...document.querySelectorAll('g.node.' + cls)].map(e => m[e.id] && m[e.id].name)"
            ".filter(Boolean); }", cls))


def test_loads_cleanly_and_offline(browser: Any, example: searchgraph.Analysis, tmp_path: Path) -> None:
    page = Page(browser, render_bytes(network_dot(example, plans=plan_network(example)), "html"), tmp_path)
    assert page.errors == []
    assert [u for u in page.requests if u != page.url] == []  # nothing fetched
    assert page.page.title() == "beam flow: examples/attention_decoder.config" or \
        page.page.title().startswith("beam flow:")
    assert len(page.classes("g.node")) >= len(example.layers)


def test_hover_highlights_inputs_and_beam_path(browser: Any, example: searchgraph.Analysis,
                                               tmp_path: Path) -> None:
    page = Page(browser, render_bytes(network_dot(example, plans=plan_network(example)), "html"), tmp_path)
    att = page.node_id("output/att")
    page.page.hover(f"#{att}")
    assert page.names_with("sg-self") == {"output/att"}
    assert page.names_with("sg-in") == {"output/att0"}
    assert page.names_with("sg-hl") == set(beam_path(example, "output/att"))
    assert "sg-active" in page.page.evaluate("[...document.querySelector('#sg-view svg').classList]")
    opacity = page.page.evaluate(
        "id => getComputedStyle(document.getElementById(id)).opacity", page.node_id("encoder"))
    assert float(opacity) < 0.5  # off the path: faded
    assert float(page.page.evaluate("id => getComputedStyle(document.getElementById(id)).opacity", att)) == 1.0
    stroke = page.page.evaluate(f"getComputedStyle(document.querySelector('#{att} path, #{att} polygon')).stroke")
    assert stroke == "rgb(214, 39, 40)"
    highlighted_edges = page.classes("g.edge.sg-hl")
    assert highlighted_edges and "output/att0 → output/att" in page.page.inner_text("#sg-status") or \
        page.page.inner_text("#sg-status").startswith("output/att:")
    page.page.mouse.move(1, 1)  # leave: everything back
    page.page.hover("#sg-bar h1")
    assert page.names_with("sg-hl") == set() and page.names_with("sg-self") == set()
    assert page.errors == []


def test_search_box(browser: Any, example: searchgraph.Analysis, tmp_path: Path) -> None:
    page = Page(browser, render_bytes(network_dot(example), "html"), tmp_path)
    page.page.fill("#sg-search", "energy")
    assert page.names_with("sg-match") == {"output/energy", "output/energy_in", "output/energy_tanh"}
    assert page.page.inner_text("#sg-status") == "3 matches"
    before = page.page.evaluate("document.querySelector('#sg-view svg').getAttribute('viewBox')")
    page.page.press("#sg-search", "Enter")
    after = page.page.evaluate("document.querySelector('#sg-view svg').getAttribute('viewBox')")
    assert before != after  # centred on the first match
    page.page.fill("#sg-search", "")
    assert page.names_with("sg-match") == set()
    assert page.errors == []


def test_pan_and_zoom(browser: Any, example: searchgraph.Analysis, tmp_path: Path) -> None:
    page = Page(browser, render_bytes(network_dot(example), "html"), tmp_path)

    def view_box() -> list[float]:
        return [float(v) for v in page.page.evaluate(
            "document.querySelector('#sg-view svg').getAttribute('viewBox')").split()]

    start = view_box()
    page.page.mouse.move(600, 500)
    page.page.mouse.wheel(0, -300)
    page.page.wait_for_timeout(50)
    zoomed = view_box()
    assert zoomed[2] < start[2] and zoomed[3] < start[3]
    page.page.mouse.move(300, 300)
    page.page.mouse.down()
    page.page.mouse.move(400, 350, steps=3)
    page.page.mouse.up()
    panned = view_box()
    assert panned[0] < zoomed[0] and panned[1] < zoomed[1] and panned[2] == zoomed[2]
    page.page.click("#sg-reset")
    assert view_box() == pytest.approx(start, abs=1e-3)
    assert page.errors == []


def test_screenshot_is_not_blank(browser: Any, example: searchgraph.Analysis, tmp_path: Path) -> None:
    page = Page(browser, render_bytes(network_dot(example, plans=plan_network(example)), "html"), tmp_path)
    shot = base64.b64encode(page.page.screenshot()).decode()
    # decode the PNG in the browser and measure it there (no imaging library needed here)
    variance, colours = page.page.evaluate("""async (data) => {
        const img = new Image(); img.src = "data:image/png;base64," + data; await img.decode();
        const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
        const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0, sum = 0, sq = 0; const seen = new Set();
        for (let i = 0; i < px.length; i += 4) {
            const g = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
            n++; sum += g; sq += g * g; if (seen.size < 1000) seen.add(px[i] << 16 | px[i + 1] << 8 | px[i + 2]);
        }
        return [sq / n - (sum / n) ** 2, seen.size];
    }""", shot)
    assert variance > 100, f"the screenshot looks blank (pixel variance {variance:.1f})"
    assert colours > 20


def test_lattice_page(browser: Any, tmp_path: Path) -> None:
    need(TRACE.exists(), f"no bundled trace {TRACE}")
    trace = SearchTrace.load(TRACE)
    page = Page(browser, render_bytes(lattice_dot(trace), "html"), tmp_path)
    assert page.errors == []
    name = f"b0:t5:{trace.latest_choice}:0"
    page.page.hover(f"#{page.node_id(name)}")
    highlighted = page.names_with("sg-hl")
    assert name in highlighted and "b0:start:0" in highlighted
    assert len(highlighted) == 5 + 1 + 1  # frames 0..5 and the start
    assert len(page.names_with("sg-in")) == 1
