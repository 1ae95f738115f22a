"""One self-contained HTML page for a diagram: the SVG inline, a search box, pan and zoom, and hover
highlighting of a node's inputs and beam path (from the metadata the DOT builders embed).

No external resources: no fonts, scripts or styles are fetched.
"""

from __future__ import annotations

import html
import json
import re

from .dot import parse_meta

__all__ = ["html_page"]

_STYLE = """
html,body{margin:0;height:100%;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
#sg-bar{display:flex;gap:.8rem;align-items:center;padding:.4rem .8rem;border-bottom:1px solid #ddd;
 background:#fafafa;height:2.2rem;box-sizing:border-box}
#sg-bar h1{font-size:1rem;margin:0;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#sg-search{width:16rem;padding:.15rem .4rem}
#sg-status{color:#555;font-size:.85rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;flex:1}
#sg-bar button{font-size:.8rem}
#sg-view{position:absolute;top:2.2rem;left:0;right:0;bottom:0;overflow:hidden;cursor:grab;background:#fff}
#sg-view.sg-drag{cursor:grabbing}
#sg-view svg{width:100%;height:100%;display:block}
svg.sg-active g.node:not(.sg-hl):not(.sg-in):not(#legend),svg.sg-active g.edge:not(.sg-hl),
svg.sg-searching g.node:not(.sg-match):not(#legend){opacity:.18}
g.node.sg-hl>polygon,g.node.sg-hl>ellipse,g.node.sg-hl>path,g.node.sg-hl a>polygon,g.node.sg-hl a>path,
g.node.sg-hl a>ellipse{stroke:#ff7f0e;stroke-width:2.5px}
g.node.sg-in>polygon,g.node.sg-in>ellipse,g.node.sg-in>path,g.node.sg-in a>polygon,g.node.sg-in a>path,
g.node.sg-in a>ellipse{stroke:#2ca02c;stroke-width:2.5px}
g.node.sg-self>polygon,g.node.sg-self>ellipse,g.node.sg-self>path,g.node.sg-self a>polygon,
g.node.sg-self a>path,g.node.sg-self a>ellipse{stroke:#d62728;stroke-width:3.5px}
g.edge.sg-hl>path,g.edge.sg-hl a>path{stroke:#ff7f0e;stroke-width:2.5px}
g.node.sg-match>polygon,g.node.sg-match>path,g.node.sg-match>ellipse,g.node.sg-match a>polygon,
g.node.sg-match a>path,g.node.sg-match a>ellipse{stroke:#9467bd;stroke-width:3px}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("sg-meta").textContent);
  var view = document.getElementById("sg-view");
  var svg = view.querySelector("svg");
  var status = document.getElementById("sg-status");
  var search = document.getElementById("sg-search");
  var nodes = meta.nodes || {}, edges = meta.edges || {};
  var base = svg.viewBox.baseVal;
  var home = [base.x, base.y, base.width, base.height];
  var box = home.slice();
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  function apply() { svg.setAttribute("viewBox", box.join(" ")); }
  function point(ev) {
    var r = svg.getBoundingClientRect();
    var s = Math.max(box[2] / r.width, box[3] / r.height);
    var ox = (r.width * s - box[2]) / 2, oy = (r.height * s - box[3]) / 2;
    return [box[0] - ox + (ev.clientX - r.left) * s, box[1] - oy + (ev.clientY - r.top) * s, s];
  }
  view.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = point(ev), f = ev.deltaY < 0 ? 1 / 1.2 : 1.2;
    box = [p[0] - (p[0] - box[0]) * f, p[1] - (p[1] - box[1]) * f, box[2] * f, box[3] * f];
    apply();
  }, {passive: false});
  var drag = null;
  view.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) return;
    drag = [ev.clientX, ev.clientY, box[0], box[1], point(ev)[2]];
    view.classList.add("sg-drag");
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    box[0] = drag[2] - (ev.clientX - drag[0]) * drag[4];
    box[1] = drag[3] - (ev.clientY - drag[1]) * drag[4];
    apply();
  });
  window.addEventListener("mouseup", function () { drag = null; view.classList.remove("sg-drag"); });
  document.getElementById("sg-reset").addEventListener("click", function () { box = home.slice(); apply(); });
  function clear() {
    svg.classList.remove("sg-active");
    svg.querySelectorAll(".sg-hl,.sg-in,.sg-self").forEach(function (el) {
      el.classList.remove("sg-hl", "sg-in", "sg-self");
    });
  }
  function highlight(id) {
    var info = nodes[id];
    if (!info) return;
    clear();
    var onPath = {}, inputs = {};
    (info.path || []).forEach(function (n) { onPath[n] = true; });
    (info.inputs || []).forEach(function (n) { inputs[n] = true; });
    onPath[id] = true;
    Object.keys(onPath).forEach(function (n) {
      var el = document.getElementById(n);
      if (el) el.classList.add("sg-hl");
    });
    Object.keys(inputs).forEach(function (n) {
      var el = document.getElementById(n);
      if (el) el.classList.add("sg-in");
    });
    Object.keys(edges).forEach(function (e) {
      var ends = edges[e];
      if ((onPath[ends[0]] && onPath[ends[1]]) || (ends[1] === id && inputs[ends[0]])) {
        var el = document.getElementById(e);
        if (el) el.classList.add("sg-hl");
      }
    });
    var self = document.getElementById(id);
    if (self) self.classList.add("sg-self");
    svg.classList.add("sg-active");
    status.textContent = info.name + ": " + (info.inputs || []).length + " input(s), " +
      Math.max((info.path || []).length - 1, 0) + " layer(s) on its beam path";
  }
  svg.querySelectorAll("g.node").forEach(function (el) {
    el.addEventListener("mouseenter", function () { highlight(el.id); });
    el.addEventListener("mouseleave", function () { clear(); status.textContent = ""; });
  });
  function matches(q) {
    return Object.keys(nodes).filter(function (id) {
      return nodes[id].name.toLowerCase().indexOf(q) >= 0 && document.getElementById(id);
    });
  }
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase();
    svg.querySelectorAll(".sg-match").forEach(function (el) { el.classList.remove("sg-match"); });
    if (!q) { svg.classList.remove("sg-searching"); status.textContent = ""; return; }
    var found = matches(q);
    found.forEach(function (id) { document.getElementById(id).classList.add("sg-match"); });
    svg.classList.add("sg-searching");
    status.textContent = found.length + " match" + (found.length === 1 ? "" : "es");
  });
  search.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter") return;
    var found = matches(search.value.trim().toLowerCase());
    if (!found.length) return;
    var b = document.getElementById(found[0]).getBBox();
    var m = svg.getScreenCTM(), g = document.getElementById(found[0]).getCTM();
    var cx = b.x + b.width / 2, cy = b.y + b.height / 2;
    if (m && g) {
      var p = svg.createSVGPoint(); p.x = cx; p.y = cy;
      var q = p.matrixTransform(g).matrixTransform(m.inverse());
      cx = q.x; cy = q.y;
    }
    box = [cx - box[2] / 2, cy - box[3] / 2, box[2], box[3]];
    apply();
  });
})();
"""


def _svg_element(svg: str) -> str:
    """The ``<svg>`` element alone: no XML declaration, DOCTYPE (it names a remote DTD) or comments."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _title(dot_source: str, meta: dict[str, object]) -> str:
    found = re.search(r'tooltip="((?:[^"\\]|\\.)*)"', dot_source)
    text = found.group(1).replace('\\"', '"').replace("\\\\", "\\") if found else ""
    if meta.get("kind") == "lattice":
        return text or "search lattice"
    return f"beam flow: {text}" if text else "beam flow"


_PANEL_STYLE = """
#sg-panel{position:absolute;right:.6rem;bottom:.6rem;max-width:60%;max-height:70%;overflow:auto;
 background:#fff;border:1px solid #ccc;border-radius:4px;padding:.3rem .6rem;box-shadow:0 1px 4px #0002}
#sg-panel summary{cursor:pointer;font-weight:600}
#sg-panel img{display:block;max-width:100%;margin:.3rem 0}
"""


def html_page(dot_source: str, svg: str, panel: str = "") -> str:
    """The page for ``dot_source`` rendered as ``svg`` (what ``render_bytes(dot, "html")`` returns).

    ``panel``: trusted HTML shown in a folding box over the diagram's corner (the trace's attention
    heat maps, see :func:`searchgraph.render.write_lattice`)."""
    meta = parse_meta(dot_source)
    title = _title(dot_source, meta)
    data = json.dumps(meta, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<div id=\"sg-bar\"><h1>{html.escape(title)}</h1>"
        "<input id=\"sg-search\" type=\"search\" placeholder=\"find a layer…\" aria-label=\"find a layer\">"
        "<button id=\"sg-reset\" type=\"button\">fit</button><span id=\"sg-status\"></span></div>\n"
        f"<div id=\"sg-view\">{_svg_element(svg)}</div>\n"
        + (f"<style>{_PANEL_STYLE}</style><details id=\"sg-panel\" open>{panel}</details>\n" if panel else "")
        + f"<script id=\"sg-meta\" type=\"application/json\">{data}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n")
