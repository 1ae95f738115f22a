"""How ``build_graph`` (and ``analyze``) scale with network size: 1k, 10k and 100k layers.

The synthetic networks mix what makes real ones expensive: a deep encoder stack, wide fan-in
layers (a ``concat`` of 128 sources), and rec decoders whose units hold ``prev:`` and ``base:``
references, a subnetwork, and a rec nested in that subnetwork (``base:base:base:``). Per size it prints
the wall time, tracemalloc's peak and the process's peak RSS, and the time per layer relative to
the smallest size (1.0 = linear growth). Target: 100k layers in under 2 s and 1 GB for build_graph.

Run: ``.venv/bin/python bench/graph_scale.py [--sizes 1000 10000 100000] [--no-analyze]
[--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from searchgraph import analyze, build_graph, load
from searchgraph.graph import constructed_layers

FAN_IN = 128  # sources of each wide concat layer
DECODER_LAYERS = 500  # layers per rec decoder (all units together)


def _decoder(index: int, encoders: list[str], size: int) -> dict[str, Any]:
    """A rec decoder of ``size`` layers: a chain over ``prev:`` and ``base:``, a subnetwork holding a
    nested rec (``base:base:base:`` refs to the root), a choice as ``output``."""
    inner_size = max(4, size // 4)
    nested = {f"n{j}": {"class": "linear", "n_out": 8,
                        "from": [f"n{j - 1}" if j else "prev:n0", f"base:base:base:{encoders[j % len(encoders)]}"]}
              for j in range(inner_size)}
    nested["output"] = {"class": "copy", "from": f"n{inner_size - 1}"}
    sub = {"inner_rec": {"class": "rec", "from": "data", "unit": nested},
           "output": {"class": "copy", "from": ["inner_rec", "base:s0"]}}
    chain = max(2, size - inner_size - 6)
    unit: dict[str, Any] = {}
    for j in range(chain):
        srcs = [f"s{j - 1}" if j else "prev:output", f"base:{encoders[(index + j) % len(encoders)]}"]
        if j % 10 == 5:
            srcs.append(f"prev:s{j}")
        unit[f"s{j}"] = {"class": "linear", "n_out": 8, "from": srcs}
    unit["sub"] = {"class": "subnetwork", "from": f"s{chain - 1}", "subnetwork": sub}
    unit["prob"] = {"class": "softmax", "from": ["sub", f"s{chain - 1}"], "target": "classes"}
    unit["output"] = {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes",
                      "initial_output": 0}
    unit["end"] = {"class": "compare", "from": "output", "value": 0}
    return {"class": "rec", "from": [], "target": "classes", "max_seq_len": "max_len_from('base:enc0')",
            "unit": unit}


def synthetic_network(n: int) -> dict[str, Any]:
    """About ``n`` layers: half a deep encoder stack with fan-in layers, half rec decoders."""
    net: dict[str, Any] = {}
    n_dec = max(1, n // (2 * DECODER_LAYERS))
    n_enc = max(FAN_IN + 2, n - n_dec * DECODER_LAYERS - n_dec - 2)
    encoders: list[str] = []
    for i in range(n_enc):
        if i % 200 == 199:  # wide fan-in over the last FAN_IN stack layers
            net[f"enc{i}"] = {"class": "concat", "from": encoders[-FAN_IN:]}
        else:
            net[f"enc{i}"] = {"class": "linear", "n_out": 8, "from": f"enc{i - 1}" if i else "data"}
        encoders.append(f"enc{i}")
    tops = encoders[-64:]
    for d in range(n_dec):
        net[f"dec{d}"] = _decoder(d, tops, DECODER_LAYERS)
        net[f"decision{d}"] = {"class": "decide", "from": f"dec{d}", "is_output_layer": True}
    fans = [f"enc{i}" for i in range(199, n_enc, 200)]
    net["output"] = {"class": "concat", "from": [encoders[-1], *fans]}
    return {"network": net, "extern_data": {"data": {"dim": 8}, "classes": {"dim": 10, "sparse": True}}}


def count_layers(net: dict[str, Any]) -> int:
    """Layer dicts in a net dict, nested units included."""
    total = 0
    for desc in net.values():
        if isinstance(desc, dict) and "class" in desc:
            total += 1
            inner = desc.get("unit") if desc["class"] == "rec" else desc.get("subnetwork")
            if isinstance(inner, dict):
                total += count_layers(inner)
    return total


def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """(best seconds of ``repeat`` calls, tracemalloc peak in MiB, result); time is taken without
    tracemalloc, the peak in one more call under it."""
    seconds = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        seconds = min(seconds, time.perf_counter() - start)
        del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def rss_mib() -> float:
    """Peak resident set size of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--no-analyze", action="store_true", help="only time build_graph")
    parser.add_argument("--profile", action="store_true", help="cProfile build_graph at the largest size")
    args = parser.parse_args(argv)

    rows = []
    for size in args.sizes:
        spec = load(synthetic_network(size))
        layers = count_layers(spec.network)
        repeat = 5 if size <= 10_000 else 1
        t_graph, m_graph, g = measure(lambda spec=spec: build_graph(spec), repeat)
        rss_graph = rss_mib()
        n_built = len(constructed_layers(g))
        t_an = m_an = rss_an = float("nan")
        if not args.no_analyze:
            t_an, m_an, _ = measure(lambda spec=spec, g=g: analyze(spec, graph=g), repeat)
            rss_an = rss_mib()
        rows.append((size, layers, g.number_of_nodes(), g.number_of_edges(), n_built,
                     t_graph, m_graph, rss_graph, t_an, m_an, rss_an))
        del g, spec
        gc.collect()

    print(f"{'size':>7} {'layers':>7} {'nodes':>7} {'edges':>8} {'built':>7} | "
          f"{'graph s':>8} {'peak MiB':>8} {'RSS MiB':>8} {'us/layer':>8} {'growth':>6} | "
          f"{'analyze s':>9} {'peak MiB':>8} {'RSS MiB':>8} {'growth':>6}")
    base = rows[0]
    for row in rows:
        size, layers, nodes, edges, built, tg, mg, rg, ta, ma, ra = row
        growth_g = (tg / layers) / (base[5] / base[1])
        growth_a = (ta / layers) / (base[8] / base[1]) if not math.isnan(ta) else float("nan")
        print(f"{size:>7} {layers:>7} {nodes:>7} {edges:>8} {built:>7} | {tg:>8.3f} {mg:>8.1f} "
              f"{rg:>8.0f} {tg / layers * 1e6:>8.1f} {growth_g:>6.2f} | {ta:>9.3f} {ma:>8.1f} "
              f"{ra:>8.0f} {growth_a:>6.2f}")
    print("growth: time per layer relative to the smallest size (1.00 = linear); RSS is the "
          "process's peak so far")
    largest = rows[-1]
    if largest[1] >= 100_000:
        ok = largest[5] < 2.0 and largest[6] < 1024
        print(f"target (100k layers: build_graph < 2 s and < 1 GB): {'met' if ok else 'MISSED'}")

    if args.profile:
        spec = load(synthetic_network(args.sizes[-1]))
        prof = cProfile.Profile()
        prof.runcall(build_graph, spec)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
