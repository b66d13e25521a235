"""Plain full-batch gradient descent in pure Python (no NumPy): the protocol's test trainer.

    python3 clients/python/examples/pure_gd.py      # speaks docs/protocol.md on stdin/stdout
"""

import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fitbench_trainer import Trainer, serve  # noqa: E402


def activation(name):
    """(σ, σ′ from the pre-activation) of a fitbench activation name."""
    if name == "identity":
        return (lambda z: z), (lambda z: 1.0)
    if name == "relu":
        return (lambda z: z if z > 0 else 0.0), (lambda z: 1.0 if z > 0 else 0.0)
    if name.startswith("leaky_relu"):
        a = float(name.split(":")[1]) if ":" in name else 0.01
        return (lambda z: z if z > 0 else a * z), (lambda z: 1.0 if z > 0 else a)
    if name == "tanh":
        return math.tanh, (lambda z: 1.0 - math.tanh(z) ** 2)
    if name == "sigmoid":
        s = lambda z: 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return s, (lambda z: s(z) * (1.0 - s(z)))
    if name == "softplus":
        sp = lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z)))
        s = lambda z: 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return sp, s
    raise ValueError(f"unknown activation {name!r}")


class PureGd(Trainer):
    name = "pure-gd"
    options = {"lr": (0.05, "learning rate")}
    uses_numpy = False

    def init(self, problem):
        if not problem.options["lr"] > 0:
            raise ValueError(f"lr must be > 0, got {problem.options['lr']}")
        self.p = problem
        self.lr = problem.options["lr"]
        self.theta = [float(v) for v in problem.params]
        self.acts = [activation(a) for a in problem.activations]

    def step(self):
        p, widths = self.p, self.p.widths
        layers = p.layers(self.theta)
        grads = [([[0.0] * widths[l] for _ in range(widths[l + 1])], [0.0] * widths[l + 1])
                 for l in range(len(layers))]
        scale = 2.0 / (p.n * p.k)
        for x, y in zip(p.x, p.y):
            inputs, pres = [list(x)], []
            for (w, b), (f, _df) in zip(layers, self.acts):
                z = [bj + sum(wj[c] * inputs[-1][c] for c in range(len(wj))) for wj, bj in zip(w, b)]
                pres.append(z)
                inputs.append([f(v) for v in z])
            delta = [scale * (o - t) * self.acts[-1][1](z) for o, t, z in zip(inputs[-1], y, pres[-1])]
            for l in range(len(layers) - 1, -1, -1):
                gw, gb = grads[l]
                a_in = inputs[l]
                for j, dj in enumerate(delta):
                    gb[j] += dj
                    row = gw[j]
                    for c, ac in enumerate(a_in):
                        row[c] += dj * ac
                if l > 0:
                    w = layers[l][0]
                    df = self.acts[l - 1][1]
                    delta = [sum(w[j][c] * delta[j] for j in range(len(delta))) * df(pres[l - 1][c])
                             for c in range(len(a_in))]
        flat = []
        for gw, gb in grads:
            for row in gw:
                flat.extend(row)
            flat.extend(gb)
        self.theta = [t - self.lr * g for t, g in zip(self.theta, flat)]

    def params(self):
        return self.theta


if __name__ == "__main__":
    serve(PureGd)
