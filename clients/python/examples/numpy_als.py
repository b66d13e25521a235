"""The analytic two-layer ReLU solver's alternation (fitbench's `analytic`, a reconstruction
of Barbu 2023) in dense NumPy: one step = output solve, hidden least-squares solve through the
n × h(d+1) design matrix (Gram by BLAS syrk, Cholesky), backtracking safeguard, output refit.
The same as ../shared/refs/numpy_als_step.py times, with fitbench's ridge and safeguard.

    fitbench run --datasets diabetes --activation relu --trainers 'ext:name=numpy-als,cmd=python3 clients/python/examples/numpy_als.py'
"""

import os
import sys

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg as sla  # noqa: E402

from fitbench_trainer import Trainer, serve  # noqa: E402


def ridge_solve(gram, rhs, ridge, free=0):
    """(G + λI)⁻¹ rhs, the last `free` unknowns unpenalised; Cholesky, else least squares."""
    gram = np.triu(gram) + np.triu(gram, 1).T  # syrk fills the upper triangle
    p = gram.shape[0]
    idx = np.arange(p - free)
    gram[idx, idx] += ridge
    try:
        return sla.cho_solve(sla.cho_factor(gram, lower=False, overwrite_a=False, check_finite=False),
                             rhs, check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(gram, rhs, rcond=None)[0]


class NumpyAls(Trainer):
    name = "numpy-als"
    versions = {"scipy": scipy.__version__}
    options = {
        "lambda": (1e-4, "ridge of both solves (fitbench analytic's lambda)"),
        "max_halvings": (10, "backtracking halvings of the hidden update"),
    }

    def init(self, problem):
        if len(problem.widths) != 3 or problem.k != 1:
            raise ValueError(f"numpy-als trains one hidden layer and one output; got widths {problem.widths}")
        act = problem.activations[0]
        if act == "relu":
            self.alpha = 0.0
        elif act.startswith("leaky_relu"):
            self.alpha = float(act.split(":")[1]) if ":" in act else 0.01
        else:
            raise ValueError(f"numpy-als needs relu or leaky_relu hidden units, not {act!r}")
        o = problem.options
        self.lam, self.halvings = o["lambda"], o["max_halvings"]
        n, d, h = problem.n, problem.d, problem.widths[1]
        self.xt = np.ascontiguousarray(np.column_stack([problem.x, np.ones(n)]))
        self.y = np.asarray(problem.y, dtype=np.float64)[:, 0]
        th = np.asarray(problem.params, dtype=np.float64)
        w, b = th[:h * d].reshape(h, d), th[h * d:h * d + h]
        self.w = np.column_stack([w, b])                     # h × (d+1), bias last
        self.beta = th[h * d + h:h * d + 2 * h].copy()       # output weights
        self.beta0 = float(th[-1])
        self.fresh = False
        self.mse = None

    def _phi(self, z):
        return np.maximum(z, self.alpha * z)

    def _loss(self, w):
        return float(np.mean((self._phi(self.xt @ w.T) @ self.beta + self.beta0 - self.y) ** 2))

    def _solve_output(self):
        n = self.xt.shape[0]
        hm = np.column_stack([self._phi(self.xt @ self.w.T), np.ones(n)])
        s = ridge_solve(sla.blas.dsyrk(1.0, hm.T, trans=0), hm.T @ self.y, self.lam, free=1)
        self.beta, self.beta0 = s[:-1], float(s[-1])
        self.mse = self._loss(self.w)
        self.fresh = True
        return self.mse

    def step(self):
        loss_a = self.mse if self.fresh else self._solve_output()
        n, q = self.xt.shape
        h = self.w.shape[0]
        z = self.xt @ self.w.T
        dpat = np.where(z > 0.0, 1.0, self.alpha)
        a = ((dpat * self.beta)[:, :, None] * self.xt[:, None, :]).reshape(n, h * q)
        w_ls = ridge_solve(sla.blas.dsyrk(1.0, a.T, trans=0), a.T @ (self.y - self.beta0),
                           self.lam).reshape(h, q)
        for i in range(self.halvings + 1):
            s = 0.5 ** i
            trial = self.w + s * (w_ls - self.w)
            if self._loss(trial) <= loss_a:
                self.w = trial
                break
        self._solve_output()
        return "continue"

    def params(self):
        h, d = self.w.shape[0], self.w.shape[1] - 1
        return np.concatenate([self.w[:, :d].reshape(-1), self.w[:, d], self.beta, [self.beta0]])


if __name__ == "__main__":
    serve(NumpyAls)
