"""Loading networks: JSON files, RETURNN configs in safe mode (AST evaluation) and trusted mode.

Safe mode must give Python's values for what it supports, refuse everything else with file:line,
and never run config code; trusted mode must run the file as RETURNN does.
"""

from __future__ import annotations
import __future__

import ast
import json
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from searchgraph.errors import ConfigError
from searchgraph.loading import load
from searchgraph.loading import safe as safeeval
from searchgraph.loading import values as _safe_ops
from searchgraph.loading.config import evaluate_config
from searchgraph.loading.normalize import TRUST_HINT

DATA = Path(__file__).parent.parent / "data" / "configs"
FAILED_HINT = "the config itself fails here: RETURNN fails the same way when it loads it"


def settings(text: str) -> dict[str, Any]:
    """Safe-mode settings of a config snippet, as file ``t.config``."""
    return evaluate_config(textwrap.dedent(text), "t.config")[0]


def python_settings(text: str) -> dict[str, Any]:
    """What Python itself binds for a (known harmless) test snippet, filtered like the settings."""
    namespace: dict[str, Any] = {"__file__": "t.config", "__name__": "__returnn_config__"}
    exec(compile(textwrap.dedent(text), "t.config", "exec"), namespace)  # noqa: S102 - our own snippets
    return {k: v for k, v in namespace.items() if not k.startswith("_")
            and not isinstance(v, (types.ModuleType, Iterator, type(__future__.annotations))) and not callable(v)}


def safe_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings(text)
    return info.value


def write(tmp_path: Path, text: str, name: str = "setup.config") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- safe mode computes Python's values ------------------------------------------------------------

EQUIVALENT = {
    "literals": """
        #!rnn.py
        '''docstring'''
        from __future__ import annotations
        neg = -3
        negf = -2.5e-3
        b = b"\\x00ab"
        n, t, f = None, True, False
        inf = float('inf')
        ninf = -float("inf")
        c = 1 + 2j
        e = ...
        big = 10 ** 18
        """,
    "names_and_augassign": """
        x = 4
        y = x * 2
        x += 1
        x -= 2
        x *= 3
        x //= 2
        x **= 2
        s = "a"
        s += "b"
        s *= 2
        """,
    "unpacking_and_annotations": """
        a, b = 1, 2
        a, b = b, a
        (c, d), e = [3, 4], 5
        first, *rest = range(4)
        *init, last = "abc"
        h, *mid, t = (1, 2, 3, 4, 5)
        p = q = [7]
        dim: int = 512
        hidden: int
        """,
    "operators": """
        a = 7 / 2, 7 // 2, -7 // 2, 7 % 3, -7 % 3, 2 ** 10, 2 ** -1, 1 << 4, 256 >> 2
        b = 6 & 3, 6 | 3, 6 ^ 3, ~5, +3, -(-3), not 0
        c = 1 < 2 <= 2 > 1 >= 1 != 0 == 0
        d = 1 < 2 > 3
        e = 0 or "" or [] or "x", 1 and 2 and 0 and 3, None or None
        f = "a" in "cat", 3 not in [1, 2], None is None, a is not None
        g = [1, 2] + [3], (1,) * 3, "ab" * 2, {1, 2} | {3}, {1, 2} & {2}, {"a": 1} | {"b": 2}
        h = 0.1 + 0.2, 1e308 * 10, divmod(-7, 2), abs(-2.5), round(2.675, 2), round(0.5), round(1.5)
        """,
    "string_formatting": """
        i, name = 3, "fw"
        a = "lstm%i_%s" % (i, name)
        b = "%(n)s=%(v)05.2f" % {"n": "lr", "v": 0.5}
        c = "%s" % [1, "x"]
        d = "%d%%" % 50
        e = "{}-{}".format("a", 1)
        f = "{0}{1}{0}".format("x", "y")
        g = "{k}:{v!r}:{w:>6.2f}".format(k="lr", v="s", w=3.14159)
        h = "{0[a]}/{1[1]}".format({"a": 9}, [4, 5])
        j = f"enc_{i:02d}_{name!r}_{name!s}_{name!a}_{i * 2}"
        k = f"{3.14159:{'.'}{2}f}|{'x':^{5}}"
        m = "{:{w}.{p}f}|{:>{}}".format(2.5, "r", 4, w=7, p=3)
        """,
    "string_methods": """
        s = "  Enc_Layer  "
        a = s.strip().lower(), s.upper(), s.lstrip(), s.rstrip()
        b = "a,b,,c".split(","), "a b  c".split(), "a.b.c".rsplit(".", 1), "x-y".replace("-", "_")
        c = ",".join(["a", "b"]), "".join(str(i) for i in range(3)), "-".join("abc")
        d = "lstm0_fw".startswith("lstm"), "x.hdf".endswith((".hdf", ".h5")), "abcabc".count("b")
        e = "a=b".partition("="), "abc".find("c"), "abc".index("b"), "ab\\ncd".splitlines()
        f = "12".isdigit(), "enc".title(), "enc".capitalize(), "é".encode(), b"xy".decode()
        """,
    "subscripts_and_slices": """
        lst = list(range(10))
        a = lst[3], lst[-1], lst[2:5], lst[::3], lst[::-2], lst[-3:], lst[:-8]
        s = "abcdef"
        b = s[1:4], s[::-1], s[-2]
        d = {"x": {"y": [1, 2, {"z": 3}]}}
        c = d["x"]["y"][2]["z"]
        t = (1, 2, 3)[1:]
        """,
    "builtins": """
        a = dict(a=1, b=2), dict([("x", 1)]), dict({"y": 2}, z=3), list("ab"), tuple([1, 2])
        b = sorted(set([3, 1, 3])), frozenset([1]) == frozenset({1}), list(range(2, 11, 3))
        c = min(3, 1, 2), max([1, 5, 2]), min("ab", key=len), max([], default=0), len({"a": 1})
        d = int("12"), int(3.9), int("ff", 16), float("1e-3"), str(12), str([1, "a"]), bool([])
        e = sum([1, 2, 3]), sum([0.1] * 10), sum([[1], [2]], []), sum(((1,), (2,)), ())
        f = sorted([3, 1, 2], reverse=True), sorted(["bb", "a"], key=len), list(reversed([1, 2]))
        g = list(enumerate("ab", 1)), list(zip([1, 2], "ab")), any([0, 1]), all([]), repr("x")
        h = list(zip(*[(1, "a"), (2, "b")])), dict(zip("ab", range(2)))
        """,
    "displays": """
        base = {"class": "linear", "n_out": 10}
        a = {**base, "n_out": 20, "from": "data"}
        b = {"x": 1, **{"y": 2}, **dict(z=3)}
        c = [*range(3), 9, *"ab"]
        d = (*[1, 2], 3)
        e = {*[1, 2], 3}
        f = {1: "a", True: "b", 2.0: "c", 2: "d"}
        g = h = [[]] * 2
        """,
    "comprehensions": """
        n = 3
        a = [i * 2 for i in range(n) if i != 1]
        b = {f"enc_{i}": {"class": "copy", "from": f"enc_{i - 1}" if i else "data"} for i in range(n)}
        c = {x % 3 for x in range(10)}
        d = sum(x * x for x in range(5))
        e = [(i, j) for i in range(4) if i % 2 == 0 for j in range(i) if j != 1]
        f = [[j for j in range(i)] for i in range(3)]
        x = [1, 2]
        g = [x for x in x]
        h = {k: v for k, v in [("a", 1), ("b", 2)]}
        k = [a for a, *_ in [(1, 2, 3), (4, 5)]]
        """,
    "conditional_expressions": """
        task = "search"
        a = 1 if task == "search" else 2
        b = "x" if not task else "y" if task.startswith("s") else "z"
        """,
    "mutation": """
        net = {"a": {"class": "copy"}}
        alias = net
        net.update({"b": {"class": "linear"}}, c=1)
        net["a"]["from"] = "data"
        net["d"] = {}
        net["d"]["e"] = [1]
        net["d"]["e"].append(2)
        net["d"]["e"].extend([3, 4])
        popped = net["d"]["e"].pop()
        popped0 = net["d"]["e"].pop(0)
        del net["c"]
        copy = net.copy()
        copy["z"] = 0
        sd = net.setdefault("s", [])
        sd.append("via setdefault")
        got = net.get("missing", "default"), net.get("a")
        keys, values = list(net.keys()), list(net["a"].values())
        items = list(net["a"].items())
        lst = [3, 1, 2]
        lst.sort()
        lst.insert(0, 9)
        lst.remove(1)
        lst.reverse()
        other = lst
        other += [7]
        other[0:1] = [5, 6]
        del other[-1], lst[0]
        tup = (1, 2)
        tup2 = tup
        tup2 += (3,)
        st = {1}
        st.add(2)
        st.update([3])
        st.discard(1)
        """,
    "if_statements": """
        task = "search"
        if task == "search":
            beam_size = 12
            if beam_size > 10:
                big = True
        elif task == "train":
            beam_size = 1
        else:
            beam_size = 0
        if not task:
            unreachable = open("marker", "w")
        else:
            reached = True
        if __name__ == "__main__":
            import sys
            sys.exit(1)
        """,
    "for_loops": """
        network = {}
        src = "data"
        for i in range(3):
            for direction in (1, -1):
                name = "lstm%i_%s" % (i, "fw" if direction == 1 else "bw")
                network[name] = {"class": "rec", "direction": direction, "from": src}
            src = ["lstm%i_fw" % i, "lstm%i_bw" % i]
        found = None
        for key, value in sorted(network.items()):
            if value["direction"] == -1:
                continue
            if key.startswith("lstm1"):
                found = key
                break
        else:
            found = "none"
        for k in []:
            pass
        else:
            empty_else = True
        total = 0
        for a, (b, c) in [(1, (2, 3)), (4, (5, 6))]:
            total += a * b + c
        """,
    "delete": """
        a = 1
        b = 2
        del a
        d = {"x": 1, "y": 2}
        del d["x"], b
        """,
}


@pytest.mark.parametrize("name", sorted(EQUIVALENT))
def test_safe_mode_gives_pythons_values(name: str) -> None:
    text = EQUIVALENT[name]
    assert settings(text) == python_settings(text)


def test_explicit_values() -> None:
    got = settings("""
        num_outputs = {"classes": [1000, 1], "data": [40, 2]}
        num_inputs = 40
        target = "classes"
        lr = 1e-3 * 2
        name = "enc_%03d" % 7
        layers = ["enc_%i" % i for i in range(2)]
        net = {name: {"from": layers}}
        net.update({"x": {"n_out": -num_inputs}})
        x, *y = "abc"
        neg_inf = -float("inf")
        """)
    assert got == {
        "num_outputs": {"classes": [1000, 1], "data": [40, 2]}, "num_inputs": 40, "target": "classes",
        "lr": 0.002, "name": "enc_007", "layers": ["enc_0", "enc_1"],
        "net": {"enc_007": {"from": ["enc_0", "enc_1"]}, "x": {"n_out": -40}},
        "x": "a", "y": ["b", "c"], "neg_inf": float("-inf"),
    }


def test_mutation_goes_through_aliases() -> None:
    got = settings("""
        a = {}
        b = a
        b["x"] = [1]
        c = b["x"]
        c += [2]
        t = (1,)
        u = t
        u += (2,)
        """)
    assert got["a"] == {"x": [1, 2]} and got["a"] is got["b"]
    assert got["t"] == (1,) and got["u"] == (1, 2)


def test_comprehension_variables_do_not_leak() -> None:
    error = safe_error("""
        x = [i for i in range(3)]
        y = i
        """)
    assert (error.message, error.where, error.hint) == ("NameError: name 'i' is not defined", "t.config:3",
                                                        FAILED_HINT)


def test_result_leaves_out_modules_private_names_and_code() -> None:
    got = settings("""
        import os
        import numpy as np
        import tensorflow as tf
        import returnn.tf.util.data
        from . import sibling
        _private = 1
        __dunder = 2
        f = max
        where = __file__
        modname = __name__
        kept = [_private, __dunder]
        def helper():
            return 1
        class Builder:
            pass
        """)
    assert got == {"where": "t.config", "modname": "__returnn_config__", "kept": [1, 2],
                   "sibling": {"__opaque__": "from . import sibling (t.config:6)"}}


def test_realistic_config_exact_network() -> None:
    path = DATA / "encdec_search.config"
    got, _report = evaluate_config(path.read_text(), str(path))
    enc = {"class": "linear", "activation": None, "n_out": 64}
    expected_network = {
        "source": {"class": "linear", "activation": None, "n_out": 64, "from": "data"},
        "enc_00_ff": {"class": "linear", "activation": "relu", "n_out": 256, "from": "source", "dropout": 0.0},
        "enc_00": {**enc, "from": ["enc_00_ff"]},
        "enc_01_ff": {"class": "linear", "activation": "relu", "n_out": 256, "from": "enc_00", "dropout": 0.0},
        "enc_01": {**enc, "from": ["enc_01_ff"]},
        "enc_02_ff": {"class": "linear", "activation": "relu", "n_out": 256, "from": "enc_01", "dropout": 0.0},
        "enc_02": {**enc, "from": ["enc_02_ff"]},
        "encoder": {"class": "layer_norm", "from": "enc_02"},
        "output": {"class": "rec", "from": [], "target": "classes",
                   "max_seq_len": "max_len_from('base:encoder') * 2", "unit": {
                       "output": {"class": "choice", "target": "classes", "beam_size": 4,
                                  "from": "output_prob", "initial_output": 0},
                       "end": {"class": "compare", "from": "output", "value": 0},
                       "target_embed": {"class": "linear", "activation": None, "n_out": 64, "from": "output",
                                        "initial_output": 0},
                       "dec_0": {"class": "linear", "activation": "tanh", "n_out": 64,
                                 "from": ["prev:target_embed", "base:encoder"]},
                       "dec_1": {"class": "linear", "activation": "tanh", "n_out": 64, "from": ["dec_0"]},
                       "output_prob": {"class": "softmax", "from": ["dec_1"], "target": "classes", "loss": "ce"},
                   }},
        "decision": {"class": "decide", "from": "output", "loss": "edit_distance", "target": "classes",
                     "only_on_search": True},
    }
    assert got["network"] == expected_network
    assert list(got["network"]) == list(expected_network)
    assert list(got["network"]["output"]["unit"]) == ["output", "end", "target_embed", "dec_0", "dec_1",
                                                      "output_prob"]
    assert got["extern_data"] == {"data": {"dim": 80, "shape": (None, 80)},
                                  "classes": {"dim": 1000, "sparse": True}}
    assert "get_dataset" not in got  # a def is code, not a setting
    assert "np" not in got and "os" not in got and "_dropout" not in got

    spec = load(path)
    assert spec.network == expected_network
    assert (spec.target, spec.search_output_layer, spec.behavior_version, spec.source) == (
        "classes", "decision", 12, str(path))
    assert spec.settings == {
        "task": "search", "num_layers": 3, "model_dim": 64, "ff_dim": 256, "beam_size": 4, "prev": "enc_02",
        "i": 2, "name": "enc_02", "decoder": expected_network["output"]["unit"],
        "search_data": {"class": "HDFDataset", "files": ["data/dev.hdf"]}, "batch_size": 5000, "max_seqs": 200,
    }

    trusted = load(path, trust=True)  # RETURNN's loader in a subprocess: its values come back as JSON

    def as_json(value: Any) -> Any:
        return json.loads(json.dumps(value))

    assert trusted.network == as_json(spec.network)
    assert trusted.extern_data == as_json(spec.extern_data)
    assert trusted.settings == as_json(spec.settings)


# -- errors of the config itself --------------------------------------------------------------------

FAILING = [
    ("x = undefined_name + 1\n", 1),
    ("d = {'a': 1}\nx = d['b']\n", 2),
    ("n = 0\nx = [\n    1,\n    2 / n,\n]\n", 4),
    ("x = 'a' + 1\n", 1),
    ("x = [1][5]\n", 1),
    ("d = {}\ndel d['k']\n", 2),
    ("del missing\n", 1),
    ("x = {**[1]}\n", 1),
    ("assert 1 == 2, 'bad'\n", 1),
    ("x = int('x')\n", 1),
    ("x = 1\nx()\n", 2),
    ("x = (1,)\nx[0] = 2\n", 2),
    ("x = 'abc'.split(1)\n", 1),
    ("d = {}\nfor k in range(3):\n    d[k] = k\nfor k in d:\n    d[k + 10] = 0\n", 4),
    ("x = sorted([1, 'a'])\n", 1),
    ("x = '{}{}'.format(1)\n", 1),
    ("x = '{a}'.format(b=1)\n", 1),
    ("x = '{0}{}'.format(1, 2)\n", 1),
    ("x = '{'.format(1)\n", 1),
    ("x = '{:{}}'.format(1)\n", 1),
    ("x = '%d' % 'a'\n", 1),
    ("x = 2.0 ** 10000\n", 1),
    ("x = sum(['a', 'b'], '')\n", 1),
    ("x = f'{1:q}'\n", 1),
]


@pytest.mark.parametrize(("text", "line"), FAILING)
def test_config_errors_are_pythons_errors_at_the_line(text: str, line: int) -> None:
    with pytest.raises(Exception) as python:
        python_settings(text)
    error = safe_error(text)
    assert error.message == f"{type(python.value).__name__}: {python.value}".rstrip(": ")
    assert error.where == f"t.config:{line}"
    assert error.hint == FAILED_HINT


def test_unpacking_errors() -> None:
    too_many = safe_error("a, b = [1, 2, 3]\n")
    assert (too_many.message, too_many.where) == ("ValueError: too many values to unpack (expected 2)",
                                                  "t.config:1")
    too_few = safe_error("x = 1\na, b, c = 1, 2\n")
    assert (too_few.message, too_few.where) == ("ValueError: not enough values to unpack (expected 3, got 2)",
                                                "t.config:2")
    starred = safe_error("a, *b, c = [1]\n")
    assert starred.message == "ValueError: not enough values to unpack (expected at least 2, got 1)"


@pytest.mark.parametrize(("text", "line", "message"), [
    ("x = 1\ny = (\n", 2, "syntax error: '(' was never closed"),
    ("x = 1\n\ndef f(:\n    pass\n", 3, "syntax error: invalid syntax"),
    ("x = 1\nbreak\n", 2, "syntax error: 'break' outside loop"),
    ("if True:\n    continue\n", 2, "syntax error: 'continue' outside loop"),
    ("def f():\n    break\n", 2, "syntax error: 'break' outside loop"),
])
def test_syntax_errors(text: str, line: int, message: str) -> None:
    error = safe_error(text)
    assert (error.message, error.where) == (message, f"t.config:{line}")
    with pytest.raises(SyntaxError):
        python_settings(text)


def test_syntax_error_through_load_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "network = {\n    'a': {'class': 'copy'},\n    'b' 1,\n}\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.where == f"{path}:3"
    assert info.value.message.startswith("syntax error: ")


# -- resource bombs ---------------------------------------------------------------------------------

LIMIT = _safe_ops.MAX_SIZE
BOMBS = [
    ("x = 'x' * 10**9\n", 1, f"repetition of 1000000000 elements (limit {LIMIT})"),
    ("x = [0] * (10**8)\n", 1, f"repetition of 100000000 elements (limit {LIMIT})"),
    ("x = 10**8 * (0,)\n", 1, f"repetition of 100000000 elements (limit {LIMIT})"),
    ("x = [1]\nx *= 10**8\n", 2, f"repetition of 100000000 elements (limit {LIMIT})"),
    ("x = range(10**9)\n", 1, f"range of 1000000000 elements (limit {LIMIT})"),
    ("x = list(range(0, 10**30, 2))\n", 1, f"range of {LIMIT + 1} elements (limit {LIMIT})"),
    ("x = [1]\nfor i in range(30):\n    x += x\n", 3, f"concatenation of 16777216 elements (limit {LIMIT})"),
    ("x = [1]\nfor i in range(30):\n    x.extend(x)\n", 3,
     f"list.extend result of 16777216 elements (limit {LIMIT})"),
    ("x = 'ab' * 5_000_000\ny = x.replace('a', 'aaaa')\n", 2,
     f"str.replace result of 25000000 elements (limit {LIMIT})"),
    ("x = ['a' * 5_000_000] * 3\ny = ''.join(x)\n", 2, f"str.join result of 15000000 elements (limit {LIMIT})"),
    ("x = sum([[0] * 1000] * 100_000, [])\n", 1, f"sum of sequences of 100000000 elements (limit {LIMIT})"),
    ("x = 2 ** 10**9\n", 1, "an integer of about 1000000001 bits (limit 100000)"),
    ("x = 1 << 10**9\n", 1, "an integer of about 1000000001 bits (limit 100000)"),
    ("x = 10**50000\n", 1, "an integer of about 166097 bits (limit 100000)"),
    ("x = 10**30000\ny = x * x\n", 2, "an integer of about 199316 bits (limit 100000)"),
    ("x = '%0999999999d' % 1\n", 1, "format width 999999999 (limit 100000)"),
    ("x = '{:999999999}'.format(1)\n", 1, "format width 999999999 (limit 100000)"),
    ("x = '{:{}}'.format(1, 10**9)\n", 1, "format width 1000000000 (limit 100000)"),
    ("x = f'{1:>999999999}'\n", 1, "format width 999999999 (limit 100000)"),
    ("x = [0]\nfor i in range(40):\n    x = [x, x]\ny = str(x)\n", 4,
     f"a structure of more than {LIMIT} elements when expanded"),
    ("x = [0]\nfor i in range(40):\n    x = [x, x]\ny = x == [x]\n", 4,
     f"a structure of more than {LIMIT} elements when expanded"),
    ("x = [0]\nfor i in range(40):\n    x = [x, x]\ny = f'{x!r}'\n", 4,
     f"a structure of more than {LIMIT} elements when expanded"),
]


@pytest.mark.parametrize(("text", "line", "what"), BOMBS, ids=[b[0][:30] for b in BOMBS])
def test_resource_bombs_are_refused(text: str, line: int, what: str) -> None:
    error = safe_error(text)
    assert (error.message, error.where, error.hint) == (f"value too large for safe mode: {what}",
                                                        f"t.config:{line}", TRUST_HINT)


def test_sizes_at_the_limit_are_fine() -> None:
    got = settings("a = len('x' * 10**7)\nb = len(range(10**7))\nc = 2 ** 99_000 > 0\nd = f'{1:>100000}'\n")
    assert got == {"a": 10**7, "b": 10**7, "c": True, "d": " " * 99_999 + "1"}


def test_iteration_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_safe_ops, "MAX_ITERATIONS", 50)
    assert settings("x = [i for i in range(50)]\n")["x"] == list(range(50))
    error = safe_error("x = 0\nfor i in range(10):\n    x += sum(j for j in range(i))\n")
    assert (error.message, error.where) == ("too many loop iterations for safe mode (limit 50)", "t.config:3")
    nested = safe_error("x = [(i, j) for i in range(10**6) for j in range(10**6)]\n")
    assert (nested.message, nested.where, nested.hint) == (
        "too many loop iterations for safe mode (limit 50)", "t.config:1", TRUST_HINT)


def test_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_safe_ops, "MAX_SECONDS", -1.0)
    error = safe_error("x = 1\n")
    assert (error.message, error.where) == ("evaluation takes too long for safe mode (limit -1.0s)", "t.config:1")


# -- safe mode never runs config code -----------------------------------------------------------------

def _marker_configs(marker: Path) -> dict[str, str]:
    """Configs that create ``marker`` when Python runs them (RETURNN would)."""
    m = repr(str(marker))
    net = "network = {'output': {'class': 'copy', 'from': 'data'}}\n"
    return {
        "open": f"{net}open({m}, 'w').close()\n",
        "__import__": f"{net}__import__('os').system('touch ' + {m})\n",
        "os.system": f"import os\n{net}os.system('touch ' + {m})\n",
        "subprocess": f"from subprocess import check_output\n{net}out = check_output(['touch', {m}])\n",
        "shutil": f"import shutil\n{net}shutil.copyfile(__file__, {m})\n",
        "function call": f"def make():\n    open({m}, 'w').close()\n    return 1\n\n{net}x = make()\n",
        "exec": f"{net}exec({f'open({m}, chr(119)).close()'!r})\n",
        "method": f"class B:\n    def go(self):\n        import os\n        os.makedirs({m})\n{net}B().go()\n",
        "module": "import evil_module\n" + net,
    }


@pytest.mark.parametrize("kind", ["open", "__import__", "os.system", "subprocess", "shutil", "function call",
                                  "exec", "method", "module"])
def test_safe_mode_never_runs_side_effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, _marker_configs(marker)[kind])
    spec = load(path)
    assert spec.network == {"output": {"class": "copy", "from": "data"}}
    assert not marker.exists()
    assert spec.report is not None and spec.report.mode == "safe"
    if kind not in ("__import__", "module"):
        assert spec.report.refused, "the side effect is listed as refused"
        assert all(note.where.startswith(f"{path}:") for note in spec.report.refused)


def test_opaque_value_in_the_structure_names_layer_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, """
        import tensorflow as tf
        act = tf.nn.relu
        kind = "linear" if tf.__version__ > "2" else "copy"
        network = {
            "a": {"class": "linear", "activation": act, "from": "data"},
            "b": {"class": kind, "from": "a"},
        }
        """)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.message == "b: its 'class' is not known in safe mode: import tensorflow"
    assert info.value.where == f"{path}:2"
    assert info.value.hint == TRUST_HINT


def test_branch_on_an_opaque_value_is_not_taken_and_what_it_changes_is_uncertain(tmp_path: Path) -> None:
    path = write(tmp_path, """
        from subprocess import check_output
        network = {"output": {"class": "copy", "from": "data"}}
        host = check_output(["hostname"]).strip().decode("utf8")
        if host.startswith("cluster"):
            prefix = "/cluster"
        if host == "gpu-node":
            network["output"]["from"] = "other"
        """)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.message.startswith("output: the layer (a branch that may change it could not be decided)")
    assert "line 7 could not be decided in safe mode" in info.value.message
    got, report = evaluate_config(path.read_text().replace('network["output"]["from"]', "x"), str(path))
    assert got["prefix"]["__opaque__"].startswith("line 5 could not be decided in safe mode")
    assert [n.where for n in report.refused] == [f"{path}:4"]


# -- JSON -------------------------------------------------------------------------------------------

def test_json_bare_network(tmp_path: Path) -> None:
    path = write(tmp_path, '{"output": {"class": "softmax", "from": "data", "target": "classes"}}', "net.json")
    spec = load(path)
    assert spec.network == {"output": {"class": "softmax", "from": "data", "target": "classes"}}
    assert (spec.extern_data, spec.source, spec.settings) == (None, str(path), {})


def test_json_with_network_and_extern_data(tmp_path: Path) -> None:
    path = write(tmp_path, """
        {"network": {"output": {"class": "copy", "from": "data"}},
         "extern_data": {"data": {"dim": 3}}, "target": "bpe", "task": "search"}
        """, "setup")  # no suffix, but starts with "{"
    spec = load(path)
    assert spec.network == {"output": {"class": "copy", "from": "data"}}
    assert (spec.extern_data, spec.target, spec.settings) == ({"data": {"dim": 3}}, "bpe", {"task": "search"})


def test_invalid_json_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "output": {"class": "copy",}\n}\n', "net.json")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.where == f"{path}:2:30"
    assert info.value.message.startswith("invalid JSON: ")


def test_json_must_be_an_object(tmp_path: Path) -> None:
    path = write(tmp_path, '[{"class": "copy"}]', "net.json")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert (info.value.message, info.value.where) == ("expected a JSON object, got list", str(path))


# -- the evaluator itself -------------------------------------------------------------------------


def _calls_in(path: Path) -> set[str]:
    """Builtin names called by name anywhere in a module."""
    return {node.func.id for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def test_safe_evaluator_has_no_exec_eval_compile_or_import() -> None:
    dangerous = {"exec", "eval", "compile", "__import__", "open", "setattr"}
    for module in (safeeval, _safe_ops):
        assert not _calls_in(Path(module.__file__)) & dangerous, module.__name__


# -- found on real configs kept aside (a held-out set of 40 published configs) ---------------------------

def test_instances_are_callable_and_subscriptable_through_their_class() -> None:
    text = """
        class Model:
            def __init__(self, dim):
                self.dim = dim
            def __call__(self, src, **extra):
                return {"class": "linear", "n_out": self.dim, "from": src, **extra}
            def __getitem__(self, key):
                return key * self.dim
        model = Model(4)
        layer = model("data", dropout=0.1)
        scaled = model[3]
        """
    assert settings(text) == {k: v for k, v in python_settings(text).items() if k not in ("model", "Model")} | {
        "model": {"__object__": "Model"}}


@pytest.mark.parametrize(("body", "message"), [
    ("    assert epoch < 5, 'too late'\n", "AssertionError: too late"),
    ("    return {}['missing']\n", "KeyError: 'missing'"),
    ("    return 1 / 0\n", "ZeroDivisionError: division by zero"),
])
def test_errors_inside_get_network_are_the_configs_errors(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "num_epochs = 10\ndef get_network(epoch, **kwargs):\n" + body)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert (info.value.message, info.value.where) == (message, f"{path}:3")


def test_unexpected_keyword_is_reported_before_a_missing_argument() -> None:
    text = "def conv(x, kernel_size):\n    return x\ny = conv(1, ernel_size=3)\n"
    with pytest.raises(Exception) as python:
        python_settings(text)
    assert safe_error(text).message == f"TypeError: {python.value}"


def test_dim_tags_support_arithmetic_and_their_attributes() -> None:
    got = settings("""
        from returnn.tf.util.data import FeatureDim, SpatialDim
        model_dim = FeatureDim("model", 256)
        ff_dim = model_dim * 4
        heads_dim = model_dim // 8
        time_dim = SpatialDim("time")
        size = ff_dim.dimension
        name = heads_dim.description
        """)
    assert got["ff_dim"] == {"__dim__": {"description": "model*4", "dimension": 1024, "kind": "feature"}}
    assert got["heads_dim"]["__dim__"]["dimension"] == 32
    assert (got["size"], got["name"]) == (1024, "model//8")


def test_copy_collections_and_functools_as_python_gives_them() -> None:
    text = """
        import copy
        import collections
        import functools
        base = {"enc": {"class": "linear", "from": ["data"]}}
        deep = copy.deepcopy(base)
        deep["enc"]["from"].append("extra")
        shallow = copy.copy(base)
        ordered = collections.OrderedDict([("a", 1), ("b", 2)])
        counts = collections.defaultdict(list)
        counts["x"].append(1)
        def layer(cls, src, n_out=1):
            return {"class": cls, "from": src, "n_out": n_out}
        linear = functools.partial(layer, "linear", n_out=8)
        made = linear("data")
        """
    got = settings(text)
    expected = python_settings(text)
    assert got["base"] == expected["base"] and got["deep"] == expected["deep"]
    assert got["made"] == expected["made"] and dict(got["ordered"]) == dict(expected["ordered"])
    assert dict(got["counts"]) == {"x": [1]}


@pytest.mark.parametrize(("name", "text", "mode", "layers"), [
    ("net.config", '{"network": {"output": {"class": "copy", "from": "data"}}}', "json", 1),
    ("old.config", "task train\nnetwork {\"output\": {\"class\": \"copy\"}}\n", "lines", 1),
    ("plain.config", "network = {'output': {'class': 'copy', 'from': 'data'}}\n", "safe", 1),
])
def test_the_config_format_is_told_apart_as_returnn_does(tmp_path: Path, name: str, text: str, mode: str,
                                                          layers: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    spec = load(path)
    assert spec.report.mode == mode and len(spec.network) == layers


def test_numpy_values_made_in_a_loop_stay_apart() -> None:
    text = "import numpy\nout = []\nfor s in [[1, 2], [3, 4, 5]]:\n    out.append(numpy.array(s))\n"
    assert settings(text)["out"] == [[1, 2], [3, 4, 5]]


@pytest.mark.parametrize(("text", "expected"), [
    ("num_outputs = 12\n", {"classes": [12, 1]}),
    ("target = 'bpe'\nnum_outputs = 30\n", {"bpe": [30, 1]}),
    ("num_outputs = {'classes': [5, 1], 'data': [3, 2]}\n", {"classes": [5, 1], "data": [3, 2]}),
])
def test_num_outputs_as_returnn_reads_it(tmp_path: Path, text: str, expected: dict) -> None:
    path = write(tmp_path, text + "network = {'output': {'class': 'softmax', 'from': 'data', 'loss': 'ce'}}\n")
    assert load(path).num_outputs == expected
