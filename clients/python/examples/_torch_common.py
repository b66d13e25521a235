"""What torch_adam.py and torch_lbfgs.py share: the network of a fitbench problem in torch,
from the flat parameters (fitbench-flat-1), and back."""

import torch


def activation(name):
    """The torch module of a fitbench activation name."""
    if name == "identity":
        return torch.nn.Identity()
    if name == "relu":
        return torch.nn.ReLU()
    if name.startswith("leaky_relu"):
        return torch.nn.LeakyReLU(float(name.split(":")[1]) if ":" in name else 0.01)
    if name == "tanh":
        return torch.nn.Tanh()
    if name == "sigmoid":
        return torch.nn.Sigmoid()
    if name == "softplus":
        return torch.nn.Softplus()
    raise ValueError(f"unknown activation {name!r}")


def network(problem, dtype):
    """nn.Sequential of Linear + activation layers holding the problem's initial parameters."""
    layers, off = [], 0
    theta = torch.as_tensor(problem.params, dtype=torch.float64)
    for l, act in enumerate(problem.activations):
        m_in, m_out = problem.widths[l], problem.widths[l + 1]
        lin = torch.nn.Linear(m_in, m_out, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(theta[off:off + m_in * m_out].reshape(m_out, m_in))
            off += m_in * m_out
            lin.bias.copy_(theta[off:off + m_out])
            off += m_out
        layers += [lin, activation(act)]
    return torch.nn.Sequential(*layers)


def flat(net):
    """The network's parameters in fitbench-flat-1 order, as f64 NumPy."""
    parts = []
    for m in net:
        if isinstance(m, torch.nn.Linear):
            parts += [m.weight.detach().reshape(-1), m.bias.detach()]
    return torch.cat(parts).to(torch.float64).numpy()


def dtype_of(name):
    try:
        return {"float32": torch.float32, "float64": torch.float64}[name]
    except KeyError:
        raise ValueError(f"dtype {name!r}: float32 or float64") from None
