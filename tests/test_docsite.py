"""``searchgraph docs``: the static site (index, one page per network), errors, refuse/force, jobs.

Pages are read back with the standard library's HTML parser: tables as rows of cell texts, and
compared with what the pipeline itself says about each network (analysis, plans, findings).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from searchgraph import SearchgraphError, analyze
from searchgraph.analysis.plan import plan_network
from searchgraph.checks.diagnose import diagnose
from searchgraph.interfaces.cli import main
from searchgraph.interfaces.docsite import MARKER, beam_rows, build_site

from .cli_support import TWO_CHOICES
from .conftest import ROOT, need

EXAMPLE = ROOT / "examples" / "attention_decoder.config"

BROKEN = 'network = {"output": {"class": "copy", "from": "data"}\n'


def _have_render() -> bool:
    try:
        render = importlib.import_module("searchgraph.render")
    except ImportError:
        return False
    return hasattr(render, "network_dot") and hasattr(render, "render_bytes")


#: Diagrams need both ``searchgraph.render`` and Graphviz's ``dot``; without them pages say why.
HAVE_RENDER = _have_render()
HAVE_DIAGRAMS = HAVE_RENDER and shutil.which("dot") is not None


@pytest.fixture
def needs_render(needs_dot: None) -> None:
    """Tests of the diagrams: need ``searchgraph.render`` and ``dot`` (a failure in CI, not a skip)."""
    need(HAVE_RENDER, "searchgraph.render (network_dot, render_bytes) is not there")


class Page(HTMLParser):
    """Tables (by class) as rows of cell texts, links, headings and whether an inline <svg> is there."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}  # the last table of each class
        self.all_tables: list[tuple[str, list[list[str]]]] = []  # (class, rows), in page order
        self.links: list[str] = []
        self.svg = 0
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("class") or ""
            self.tables[self._table] = []
            self.all_tables.append((self._table, self.tables[self._table]))
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag == "svg":
            self.svg += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def read(path: Path) -> Page:
    return Page(path.read_text("utf-8"))


@pytest.fixture
def configs(tmp_path: Path) -> list[str]:
    """The bundled example, a network RETURNN rejects, and a config that cannot be read."""
    (tmp_path / "two_choices.json").write_text(json.dumps(TWO_CHOICES))
    (tmp_path / "broken.config").write_text(BROKEN)
    return [str(EXAMPLE), str(tmp_path / "two_choices.json"), str(tmp_path / "broken.config")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], int]:
    """One site over the three configs (jobs=1), shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "two_choices.json").write_text(json.dumps(TWO_CHOICES))
    (folder / "broken.config").write_text(BROKEN)
    names = [str(EXAMPLE), str(folder / "two_choices.json"), str(folder / "broken.config")]
    out = tmp_path_factory.mktemp("site") / "docs"
    result = build_site(names, out, jobs=1)
    return out, names, result.exit_code


# ---------------------------------------------------------------------------------------------------
class TestIndex:
    def test_a_row_per_config_in_order(self, site: tuple[Path, list[str], int], needs_dot: None) -> None:
        out, names, code = site
        assert code == 1  # one config unusable, one network with an error RETURNN would raise
        rows = read(out / "index.html").tables["index"]
        assert rows[0] == ["network", "config", "layers", "choices", "beams", "errors", "warnings",
                           "infos"]
        assert [r[1] for r in rows[1:]] == names
        example = analyze(str(EXAMPLE))
        findings = diagnose(example)
        assert rows[1] == ["attention_decoder.config", names[0], str(len(example.layers)), "1",
                           str(len(example.beams())),
                           *(str(sum(f.severity == s for f in findings))
                             for s in ("error", "warning", "info"))]
        two = analyze(names[1])
        assert rows[2][2:6] == [str(len(two.layers)), "2", str(len(two.beams())),
                                str(sum(f.severity == "error" for f in diagnose(two)))]
        assert int(rows[2][5]) >= 1

    def test_unusable_config_is_an_error_row(self, site: tuple[Path, list[str], int]) -> None:
        out, names, _ = site
        index = read(out / "index.html")
        row = index.tables["index"][3]
        assert row[:2] == ["broken.config", names[2]]
        assert row[2].startswith(f"{names[2]}:1: syntax error")
        assert "hint: " in row[2]
        assert "Traceback" not in "".join(index.text)
        assert not (out / "broken.html").exists()

    def test_links_to_pages(self, site: tuple[Path, list[str], int]) -> None:
        out, _, _ = site
        links = read(out / "index.html").links
        assert links == ["attention_decoder.html", "two_choices.html"]
        for link in links:
            assert (out / link).is_file()
        marker = json.loads((out / MARKER).read_text())
        assert [p["page"] for p in marker["pages"]] == [*links, None]


class TestNetworkPage:
    def test_diagram_is_inline_svg(self, site: tuple[Path, list[str], int], needs_render: None) -> None:
        out, _, _ = site
        page = read(out / "attention_decoder.html")
        assert page.svg >= 1
        text = (out / "attention_decoder.html").read_text()
        assert "<?xml" not in text and "<!DOCTYPE svg" not in text
        assert "attention_decoder.diagram.html" in page.links
        assert (out / "attention_decoder.diagram.html").read_bytes().lstrip().lower().startswith(
            (b"<!doctype html", b"<html"))
        assert "http://" not in text.replace("http://www.w3.org/", "")  # nothing from elsewhere
        assert "https://" not in text

    @pytest.mark.parametrize("name, config", [("attention_decoder", 0), ("two_choices", 1)])
    def test_dot_source_marks_the_culprits(self, site: tuple[Path, list[str], int], needs_render: None,
                                           name: str, config: int) -> None:
        from searchgraph.render import network_dot

        out, names, _ = site
        analysis = analyze(names[config])
        culprits = sorted({f.layer for f in diagnose(analysis) if f.severity == "error"})
        assert bool(culprits) == (name == "two_choices")
        assert "output/both" in culprits or not culprits
        assert (out / f"{name}.gv").read_text() == network_dot(analysis, plans=plan_network(analysis),
                                                               mark=culprits)
        assert f'href="{name}.gv"' in (out / f"{name}.html").read_text()

    @pytest.mark.parametrize("name, config", [("attention_decoder", 0), ("two_choices", 1)])
    def test_beam_table_is_the_analysis(self, site: tuple[Path, list[str], int], name: str,
                                        config: int) -> None:
        out, names, _ = site
        rows = read(out / f"{name}.html").tables["beams"]
        assert rows[0] == ["layer", "class", "placement", "beam", "size", "choice", "error"]
        expected = []
        for r in beam_rows(analyze(names[config])):
            choice = "= beam" if r["choice"] and r["choice"] == r["beam"] else (r["choice"] or "—")
            expected.append([r["layer"], r["class"], r["placement"], r["beam"] or "—",
                             "" if r["beam_size"] is None else str(r["beam_size"]), choice,
                             r["error"] or ""])
        assert rows[1:] == expected

    def test_plans(self, site: tuple[Path, list[str], int]) -> None:
        out, _, _ = site
        page = read(out / "attention_decoder.html")
        plans = plan_network(analyze(str(EXAMPLE)))
        moved = [[name, item.input, item.option, item.describe().split("  ", 1)[1], plan.choice]
                 for name, plan in plans.layers.items() for item in plan.inputs if item.action != "keep"]
        assert moved and page.tables["plans"][1:] == moved
        assert any(r[3] == "tile ×12 → output/prev:output" for r in moved)
        assert page.tables["frames"][1:] == [[f.rec, f.layer, f.plan.describe().split("  ", 1)[1]]
                                             for f in plans.frames]

    def test_findings(self, site: tuple[Path, list[str], int]) -> None:
        out, names, _ = site
        text = (out / "two_choices.html").read_text()
        findings = diagnose(analyze(names[1]))
        assert findings
        for f in findings:
            assert f'id="{f.code}-{f.layer}"' in text
        assert "No findings" in (out / "attention_decoder.html").read_text()

    def test_json_is_the_commands_json(self, site: tuple[Path, list[str], int],
                                       capsys: pytest.CaptureFixture[str]) -> None:
        out, names, _ = site
        data = json.loads((out / "two_choices.json").read_text())
        for command, key in (("beams", "beams"), ("plan", "plans"), ("diagnose", "findings")):
            main([command, names[1], "--json"])
            printed = json.loads(capsys.readouterr().out)
            assert data[key] == (printed["findings"] if key == "findings" else printed), command


# ---------------------------------------------------------------------------------------------------
class TestTargetFolder:
    def test_refuses_a_folder_it_did_not_write(self, tmp_path: Path, configs: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
        out = tmp_path / "mine"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        with pytest.raises(SearchgraphError, match="not empty"):
            build_site(configs[:1], out)
        code = main(["docs", configs[0], "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 2
        assert "not an output of searchgraph docs" in " ".join(err.split())
        assert "--force" in err and "Traceback" not in err
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.config", "mine", "two_choices.json"]

    def test_force_replaces_it(self, tmp_path: Path, configs: list[str]) -> None:
        out = tmp_path / "mine"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        assert main(["docs", configs[1], "-o", str(out), "--force"]) == 1
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [MARKER, "index.html", "two_choices.html", "two_choices.json"]
            + (["two_choices.diagram.html"] if HAVE_DIAGRAMS else [])
            + (["two_choices.gv"] if HAVE_RENDER else []))

    def test_rewrites_its_own_output_and_empty_folders(self, tmp_path: Path, configs: list[str]) -> None:
        out = tmp_path / "site"
        out.mkdir()
        build_site(configs[1:], out)
        assert (out / "two_choices.html").exists()
        build_site(configs[2:], out)  # a previous output: replaced without --force
        assert not (out / "two_choices.html").exists()
        assert json.loads((out / MARKER).read_text())["pages"][0]["config"] == configs[2]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.config", "site", "two_choices.json"]

    def test_a_file_is_never_replaced(self, tmp_path: Path, configs: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
        target = tmp_path / "site.html"
        target.write_text("mine")
        assert main(["docs", configs[2], "-o", str(target), "--force"]) == 2
        assert "not a folder" in capsys.readouterr().err
        assert target.read_text() == "mine"

    def test_unwritable_place_is_a_clean_error(self, tmp_path: Path, configs: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "afile").write_text("mine")
        assert main(["docs", configs[0], "-o", str(tmp_path / "afile" / "site")]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"{tmp_path / 'afile' / 'site'}: cannot write the site" in err
        assert "hint:" in err and "Traceback" not in err and "internal error" not in err
        assert (tmp_path / "afile").read_text() == "mine"

    def test_failed_write_keeps_the_old_site(self, tmp_path: Path, configs: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        from searchgraph.interfaces import docsite

        out = tmp_path / "site"
        build_site(configs[2:], out)
        before = {p.name: p.read_bytes() for p in out.iterdir()}

        def fail(folder: Path, pages: list[Any]) -> None:
            (folder / "index.html").write_text("half")
            raise OSError("disk full")

        monkeypatch.setattr(docsite, "_write_tree", fail)
        with pytest.raises(SearchgraphError, match=r"cannot write the site \(disk full\)"):
            build_site(configs[1:], out)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.config", "site", "two_choices.json"]


# ---------------------------------------------------------------------------------------------------
class TestCommand:
    def test_exit_codes_and_messages(self, tmp_path: Path, configs: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["docs", configs[0], "-o", str(tmp_path / "a")]) == 0
        assert main(["docs", *configs, "-o", str(tmp_path / "b")]) == 1
        out = " ".join(capsys.readouterr().out.split())
        assert f"error: {configs[2]}:1: syntax error" in out
        assert f"wrote {tmp_path / 'b' / 'index.html'}: 2 network pages, 1 config unusable" in out
        assert main(["docs", configs[2], "-o", str(tmp_path / "c")]) == 2  # nothing usable
        assert (tmp_path / "c" / "index.html").is_file()

    def test_jobs_must_be_positive(self, tmp_path: Path, configs: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            main(["docs", configs[0], "-o", str(tmp_path / "a"), "--jobs", "0"])
        assert exc.value.code == 2
        assert "at least 1" in capsys.readouterr().err

    def test_parallel_jobs_write_the_same_site(self, tmp_path: Path, configs: list[str],
                                               needs_render: None) -> None:
        one = build_site(configs, tmp_path / "one", jobs=1)
        two = build_site(configs, tmp_path / "two", jobs=2)
        assert one.exit_code == two.exit_code == 1
        files = sorted(p.name for p in (tmp_path / "one").iterdir())
        assert files == sorted(p.name for p in (tmp_path / "two").iterdir())
        assert "attention_decoder.diagram.html" in files
        for name in files:
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name

    def test_same_name_twice_gets_two_pages(self, tmp_path: Path) -> None:
        for folder in ("x", "y"):
            (tmp_path / folder).mkdir()
            (tmp_path / folder / "net.json").write_text(json.dumps(TWO_CHOICES))
        site = build_site([tmp_path / "x" / "net.json", tmp_path / "y" / "net.json"], tmp_path / "site",
                          jobs=1)
        assert [p.slug for p in site.pages] == ["net", "net-2"]
        assert read(tmp_path / "site" / "index.html").links == ["net.html", "net-2.html"]

    def test_progress_bar(self, tmp_path: Path, configs: list[str]) -> None:
        import io

        from rich.console import Console

        stream = io.StringIO()
        build_site(configs[1:], tmp_path / "site", jobs=1,
                   progress=Console(file=stream, width=80, force_terminal=False))
        assert "2/2" in stream.getvalue()

    def test_does_not_import_tensorflow(self, tmp_path: Path, configs: list[str]) -> None:
        code = ("import sys; from searchgraph.interfaces.cli import main; "
                f"code = main(['docs', {configs[1]!r}, '-o', {str(tmp_path / 'site')!r}]); "
                "assert 'tensorflow' not in sys.modules, 'TF imported'; print('exit', code)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                              timeout=120, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert "exit 1" in proc.stdout
