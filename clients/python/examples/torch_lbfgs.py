"""torch.optim.LBFGS on fitbench's problem, full batch, f64: one step = one `.step(closure)`
(at most `max_iter` L-BFGS iterations, default 1, with torch's strong-Wolfe line search).

    fitbench run --datasets diabetes --trainers 'ext:name=torch-lbfgs,cmd=python3 clients/python/examples/torch_lbfgs.py'
"""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from _torch_common import dtype_of, flat, network  # noqa: E402
from fitbench_trainer import Trainer, serve  # noqa: E402


class TorchLbfgs(Trainer):
    name = "torch-lbfgs"
    versions = {"torch": torch.__version__}
    options = {
        "lr": (1.0, "step length scale"),
        "max_iter": (1, "L-BFGS iterations per step (torch's max_iter)"),
        "history_size": (10, "pairs kept (torch's history_size; fitbench's lbfgs m)"),
        "line_search": ("strong_wolfe", "strong_wolfe or none"),
        "dtype": ("float64", "float32 or float64"),
    }

    def init(self, problem):
        o = problem.options
        if o["max_iter"] < 1 or o["history_size"] < 1:
            raise ValueError("max_iter and history_size must be >= 1")
        if o["line_search"] not in ("strong_wolfe", "none"):
            raise ValueError(f"line_search {o['line_search']!r}: strong_wolfe or none")
        torch.set_num_threads(max(1, problem.threads))
        dtype = dtype_of(o["dtype"])
        self.x = torch.as_tensor(problem.x, dtype=dtype)
        self.y = torch.as_tensor(problem.y, dtype=dtype)
        self.net = network(problem, dtype)
        self.opt = torch.optim.LBFGS(
            self.net.parameters(), lr=o["lr"], max_iter=o["max_iter"],
            history_size=o["history_size"],
            line_search_fn=None if o["line_search"] == "none" else "strong_wolfe")
        self.loss = torch.nn.MSELoss()

    def step(self):
        def closure():
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.net(self.x), self.y)
            loss.backward()
            return loss
        self.opt.step(closure)
        return "continue"

    def params(self):
        return flat(self.net)


if __name__ == "__main__":
    serve(TorchLbfgs)
