"""Plays the harness's side of docs/protocol.md against a client, with the standard library
only: writes a small problem as .npy files, runs hello, init, ping, steps, params and close,
checks the replies and that the loss went down, and that bad input gets `ok: false`.

    python3 clients/python/selftest.py [path/to/trainer.py]   (default: examples/pure_gd.py)
"""

import json
import math
import os
import random
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from fitbench_trainer import read_npy, write_npy  # noqa: E402

STEPS = 30


def mse(widths, acts, theta, xs, ys):
    """The network's MSE, computed here independently of the client."""
    f = {"tanh": math.tanh, "identity": lambda z: z}
    total, off_layers = 0.0, []
    off = 0
    for l in range(len(widths) - 1):
        m_in, m_out = widths[l], widths[l + 1]
        w = [theta[off + a * m_in: off + (a + 1) * m_in] for a in range(m_out)]
        off += m_in * m_out
        off_layers.append((w, theta[off: off + m_out]))
        off += m_out
    for x, y in zip(xs, ys):
        a = x
        for (w, b), act in zip(off_layers, acts):
            a = [f[act](bj + sum(wc * ac for wc, ac in zip(wj, a))) for wj, bj in zip(w, b)]
        total += sum((o - t) ** 2 for o, t in zip(a, y))
    return total / (len(xs) * len(ys[0]))


def main():
    client = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "examples", "pure_gd.py")
    rng = random.Random(7)
    n, d, h, k = 64, 3, 5, 1
    xs = [[rng.gauss(0, 1) for _ in range(d)] for _ in range(n)]
    ys = [[math.sin(x[0]) + 0.5 * x[1] * x[2]] for x in xs]
    widths, acts = [d, h, k], ["tanh", "identity"]
    theta = [rng.uniform(-0.5, 0.5) for _ in range((d + 1) * h + (h + 1) * k)]
    with tempfile.TemporaryDirectory() as tmp:
        px, py, pp = (os.path.join(tmp, f) for f in ("x.npy", "y.npy", "p0.npy"))
        write_npy(px, [v for r in xs for v in r], (n, d))
        write_npy(py, [v for r in ys for v in r], (n, k))
        write_npy(pp, theta)
        assert read_npy(px) == ([v for r in xs for v in r], (n, d)), "npy round trip"
        child = subprocess.Popen([sys.executable, client], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)

        def ask(obj):
            child.stdin.write(json.dumps(obj) + "\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        hello = ask({"op": "hello", "protocol": 1})
        assert hello["ok"] and hello["protocol"] == 1 and hello["name"], hello
        bad = ask({"op": "init", "problem": {"x": px, "y": py, "params": pp, "n": n, "d": d, "k": k,
                                              "widths": widths, "activations": acts, "seed": 1,
                                              "layout": "fitbench-flat-1"},
                   "options": {"no_such_option": 1}})
        assert not bad["ok"] and "no_such_option" in bad["error"], bad
        init = ask({"op": "init", "problem": {"x": px, "y": py, "params": pp, "n": n, "d": d, "k": k,
                                               "widths": widths, "activations": acts, "seed": 1,
                                               "layout": "fitbench-flat-1"}, "options": {}})
        assert init == {"ok": True}, init
        assert ask({"op": "ping"}) == {"ok": True}
        before = mse(widths, acts, theta, xs, ys)
        for _ in range(STEPS):
            r = ask({"op": "step"})
            assert r["ok"] and r["status"] in ("continue", "converged"), r
        inline = ask({"op": "params"})
        assert inline["ok"] and len(inline["params"]) == len(theta), inline
        pout = os.path.join(tmp, "p.npy")
        assert ask({"op": "params", "path": pout}) == {"ok": True}
        written, shape = read_npy(pout)
        assert written == inline["params"] and shape == (len(theta),)
        after = mse(widths, acts, written, xs, ys)
        assert after < before, f"the loss did not go down: {before} -> {after}"
        assert not ask({"op": "dance"})["ok"]
        assert ask({"op": "close"}) == {"ok": True}
        assert child.wait(timeout=10) == 0
    print(f"selftest: {os.path.basename(client)}: MSE {before:.4f} -> {after:.4f} in {STEPS} steps; 1 passed, 0 failed")


if __name__ == "__main__":
    main()
