"""torch.optim.Adam on fitbench's problem: one step = one epoch (full batch, or mini-batches
of `batch` rows in an order reshuffled every epoch from the run's seed), f32 or f64.

    fitbench run --datasets diabetes --trainers 'ext:name=torch-adam,cmd=python3 clients/python/examples/torch_adam.py,lr=1e-3'
"""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from _torch_common import dtype_of, flat, network  # noqa: E402
from fitbench_trainer import Trainer, serve  # noqa: E402


class TorchAdam(Trainer):
    name = "torch-adam"
    versions = {"torch": torch.__version__}
    options = {
        "lr": (1e-3, "learning rate"),
        "beta1": (0.9, "first-moment decay"),
        "beta2": (0.999, "second-moment decay"),
        "eps": (1e-8, "denominator guard"),
        "batch": (0, "rows per mini-batch (0: the full batch)"),
        "dtype": ("float32", "float32 or float64"),
    }

    def init(self, problem):
        o = problem.options
        if not o["lr"] > 0:
            raise ValueError(f"lr must be > 0, got {o['lr']}")
        if o["batch"] < 0:
            raise ValueError(f"batch must be >= 0, got {o['batch']}")
        torch.set_num_threads(max(1, problem.threads))
        dtype = dtype_of(o["dtype"])
        self.x = torch.as_tensor(problem.x, dtype=dtype)
        self.y = torch.as_tensor(problem.y, dtype=dtype)
        self.net = network(problem, dtype)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=o["lr"],
                                    betas=(o["beta1"], o["beta2"]), eps=o["eps"])
        self.loss = torch.nn.MSELoss()
        self.batch = o["batch"] if 0 < o["batch"] < problem.n else 0
        self.gen = torch.Generator().manual_seed(problem.seed)

    def _update(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.net(x), y).backward()
        self.opt.step()

    def step(self):
        if self.batch == 0:
            self._update(self.x, self.y)
        else:
            order = torch.randperm(self.x.shape[0], generator=self.gen)
            for i in range(0, len(order), self.batch):
                rows = order[i:i + self.batch]
                self._update(self.x[rows], self.y[rows])
        return "continue"

    def params(self):
        return flat(self.net)


if __name__ == "__main__":
    serve(TorchAdam)
