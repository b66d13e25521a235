#!/usr/bin/env python3
"""Independent reference for fitbench's `lnn` study (one-time provenance script).

This script produced crates/lnn/data/reference.json, the reference that
`fitbench_lnn::reproduction_section` compares the Rust study against. The project
never runs it (its tests only parse the committed JSON); it needs Python 3.9+ and
numpy, which is not a dependency of fitbench.

It re-implements, without sharing any code or random numbers with the Rust crate,
the protocol of Lakkapragada 2024 (arXiv 2401.00186) as crates/lnn documents it:

  * per trial: A, B ~ N(0, 1); n_train x ~ N(0, 1); y = A*x + B;
    y += eps * c * mean(y_clean) with eps ~ N(0, 1) per sample;
  * chains of k = 1..10 width-1 affine layers h_j = w_j * h_{j-1} + b_j,
    w_j, b_j ~ U(-1, 1) (PyTorch's default for nn.Linear(1, 1));
  * full-batch plain SGD on the training MSE, `steps` steps at learning rate `lr`,
    the gradient computed by ordinary backpropagation over the data arrays
    (not through the data's moments, as the Rust crate does);
  * OLS with intercept on the training set; the optimal-parameter deviation
    D = |prod(w) - w_OLS| + |b_eff - b_OLS| of the final parameters, where
    (prod(w), b_eff) is the chain's effective affine map; "converged" is D < 0.01.

Like the Rust crate (and unlike the author's script) it computes in float64. The
validation set is not drawn: D does not depend on it. Each trial's data is shared by
all k; each (trial, k) gets its own initialisation. All trials of one k are trained
at once, vectorised as (n_train, trials) arrays, on one thread.

How to re-run (the committed file took 377 s on one core of a 2-core x86 VM):

    pip install numpy
    python3 scripts/lnn-reference.py --out crates/lnn/data/reference.json

Smoke test (seconds): python3 scripts/lnn-reference.py --trials 20 --steps 200 --out /tmp/r.json
"""

import os

# One thread, whatever BLAS numpy was built with (set before numpy is imported).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

CONVERGED = 0.01


def draw_data(rng, trials, n, c):
    """Training data of every trial as (n, trials) arrays, and the OLS fit of each."""
    a = rng.standard_normal(trials)
    b = rng.standard_normal(trials)
    x = rng.standard_normal((n, trials))
    clean = a * x + b
    y = clean + rng.standard_normal((n, trials)) * c * clean.mean(axis=0)
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    w_ols = (xc * yc).sum(axis=0) / (xc * xc).sum(axis=0)
    b_ols = y.mean(axis=0) - w_ols * x.mean(axis=0)
    return x, y, w_ols, b_ols


def train(x, y, w, b, lr, steps):
    """Full-batch SGD on mean((h_k - y)^2), backpropagating through the data arrays.

    x, y: (n, trials); w, b: (k, trials), updated in place.
    """
    k = w.shape[0]
    n = x.shape[0]
    ones = np.ones(n)
    hs = [x] + [np.empty_like(x) for _ in range(k)]
    g = np.empty_like(x)
    gw = np.empty_like(w)
    gb = np.empty_like(b)
    for _ in range(steps):
        for j in range(k):  # forward: h_{j+1} = w_j * h_j + b_j
            np.multiply(hs[j], w[j], out=hs[j + 1])
            hs[j + 1] += b[j]
        np.subtract(hs[k], y, out=g)
        g *= 2.0 / n  # dL/dh_k
        for j in range(k - 1, -1, -1):  # backward
            gw[j] = np.einsum("nt,nt->t", g, hs[j])
            gb[j] = ones @ g
            if j:
                g *= w[j]  # dL/dh_j
        w -= lr * gw
        b -= lr * gb


def effective(w, b):
    """The effective affine map (slope, intercept) of each trial's chain."""
    slope = np.ones(w.shape[1])
    intercept = np.zeros(w.shape[1])
    for wj, bj in zip(w, b):
        slope, intercept = wj * slope, wj * intercept + bj
    return slope, intercept


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--noise", type=float, default=0.05, help="noise coefficient c")
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--max-depth", type=int, default=10)
    p.add_argument("--seed", type=int, default=20240101)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    x, y, w_ols, b_ols = draw_data(rng, args.trials, args.n_train, args.noise)
    depths = []
    for k in range(1, args.max_depth + 1):
        w = rng.uniform(-1.0, 1.0, (k, args.trials))
        b = rng.uniform(-1.0, 1.0, (k, args.trials))
        train(x, y, w, b, args.lr, args.steps)
        slope, intercept = effective(w, b)
        d = np.abs(slope - w_ols) + np.abs(intercept - b_ols)
        row = {
            "k": k,
            "mean_d": float(d.mean()),
            "sem_d": float(d.std(ddof=1) / np.sqrt(d.size)),
            "median_d": float(np.median(d)),
            "frac_converged": float((d < CONVERGED).mean()),
        }
        depths.append(row)
        print(
            f"k = {k:2}: mean D {row['mean_d']:.4f} ± {row['sem_d']:.4f}, "
            f"{100 * row['frac_converged']:.0f} % with D < {CONVERGED} "
            f"({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
        )

    reference = {
        "what": (
            "Final optimal-parameter deviation D of width-1 linear chains (k = 1.."
            f"{args.max_depth}) trained by full-batch plain SGD, Lakkapragada 2024 protocol "
            "as documented in crates/lnn; an independent numpy implementation "
            "(backpropagation over the data arrays, float64, its own random numbers), "
            "not fitbench's code"
        ),
        "script": "scripts/lnn-reference.py",
        "command": "python3 " + shlex.join(sys.argv),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "seed": args.seed,
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "wall_s": round(time.perf_counter() - start, 1),
        "trials": args.trials,
        "steps": args.steps,
        "lr": args.lr,
        "noise": args.noise,
        "n_train": args.n_train,
        "converged_below": CONVERGED,
        "depths": depths,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
