"""fitbench's external trainer protocol, version 1, for Python (docs/protocol.md).

One file, standard library only (NumPy is used when it can be imported). A trainer is a
subclass of `Trainer` with `init`, `step` and `params`; `serve(MyTrainer)` answers the
harness on stdin/stdout:

    from fitbench_trainer import Trainer, serve

    class Gd(Trainer):
        name = "pure-gd"
        options = {"lr": (0.1, "learning rate")}

        def init(self, problem):
            self.theta = list(problem.params)
            ...

        def step(self):
            ...               # one step; return "converged" to stop early

        def params(self):
            return self.theta

    if __name__ == "__main__":
        serve(Gd)
"""

import ast
import json
import math
import struct
import sys
import time

PROTOCOL = 1
LAYOUT = "fitbench-flat-1"

try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised where NumPy is missing
    _np = None


# ---------------------------------------------------------------------------------------------
# .npy files (format 1.0, little-endian f64), without NumPy


def read_npy(path):
    """(flat list of floats in C order, shape tuple) of an f64 .npy file."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ValueError(f"{path}: not a .npy file")
        major, _minor = f.read(2)
        size = f.read(2) if major == 1 else f.read(4)
        (hlen,) = struct.unpack("<H" if major == 1 else "<I", size)
        header = ast.literal_eval(f.read(hlen).decode("latin1"))
        if header["descr"] not in ("<f8", "float64"):
            raise ValueError(f"{path}: dtype {header['descr']}, expected <f8")
        shape = tuple(header["shape"])
        count = 1
        for s in shape:
            count *= s
        data = f.read(8 * count)
        if len(data) != 8 * count:
            raise ValueError(f"{path}: {len(data)} bytes of data, expected {8 * count}")
        values = list(struct.unpack(f"<{count}d", data))
    if header["fortran_order"] and len(shape) == 2:
        rows, cols = shape
        values = [values[j * rows + i] for i in range(rows) for j in range(cols)]
    return values, shape


def write_npy(path, values, shape=None):
    """Writes `values` (a flat sequence in C order) as an f64 .npy file of `shape`."""
    values = [float(v) for v in values]
    shape = tuple(shape) if shape is not None else (len(values),)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': " + repr(shape) + ", }"
    pad = 64 - (10 + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin1")
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(struct.pack("<H", len(header)))
        f.write(header)
        f.write(struct.pack(f"<{len(values)}d", *values))


# ---------------------------------------------------------------------------------------------
# The problem a trainer is given


class Problem:
    """What `init` receives: the training data, the architecture, the initial parameters."""

    def __init__(self, spec, options, numpy):
        self.n, self.d, self.k = spec["n"], spec["d"], spec["k"]
        self.widths = list(spec["widths"])
        self.activations = list(spec["activations"])
        self.seed = spec.get("seed", 0)
        self.threads = spec.get("threads", 1)
        self.options = options
        if spec.get("layout", LAYOUT) != LAYOUT:
            raise ValueError(f"parameter layout {spec.get('layout')!r}, this client knows {LAYOUT!r}")
        if numpy and _np is not None:
            self.x = _np.load(spec["x"])
            self.y = _np.load(spec["y"])
            self.params = _np.load(spec["params"])
        else:
            xs, _ = read_npy(spec["x"])
            ys, _ = read_npy(spec["y"])
            self.x = [xs[i * self.d:(i + 1) * self.d] for i in range(self.n)]
            self.y = [ys[i * self.k:(i + 1) * self.k] for i in range(self.n)]
            self.params, _ = read_npy(spec["params"])
        expected = sum((self.widths[l] + 1) * self.widths[l + 1] for l in range(len(self.widths) - 1))
        if len(self.params) != expected:
            raise ValueError(f"{len(self.params)} initial parameters, the widths {self.widths} need {expected}")

    def layers(self, theta):
        """[(W as a list of rows, b)] of the flat vector `theta` (fitbench-flat-1)."""
        out, off = [], 0
        for l in range(len(self.widths) - 1):
            m_in, m_out = self.widths[l], self.widths[l + 1]
            w = [list(theta[off + a * m_in: off + (a + 1) * m_in]) for a in range(m_out)]
            off += m_in * m_out
            b = list(theta[off: off + m_out])
            off += m_out
            out.append((w, b))
        return out


# ---------------------------------------------------------------------------------------------
# The trainer base class and the serving loop


class Trainer:
    """Subclass it: set `name` and `options` ({key: (default, help)}), and define `init`,
    `step` and `params`. Options arrive validated against their defaults' types."""

    name = "external"
    options = {}
    uses_numpy = True  # False: the problem's arrays are lists even where NumPy is installed
    versions = {}

    def init(self, problem):
        raise NotImplementedError

    def step(self):
        raise NotImplementedError

    def params(self):
        raise NotImplementedError


def _versions(trainer):
    v = {"python": sys.version.split()[0]}
    if _np is not None:
        v["numpy"] = _np.__version__
    v.update(trainer.versions)
    return v


def _options(trainer, given):
    out = {}
    for key, value in given.items():
        if key not in trainer.options:
            known = ", ".join(sorted(trainer.options)) or "none"
            raise ValueError(f"unknown option {key!r} of {trainer.name}; its options: {known}")
        default = trainer.options[key][0]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"option {key!r} of {trainer.name} must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"option {key!r} of {trainer.name} must be a number, got {value!r}")
            value = type(default)(value) if isinstance(default, float) else value
        out[key] = value
    for key, (default, _help) in trainer.options.items():
        out.setdefault(key, default)
    return out


def _flat(params):
    if _np is not None and isinstance(params, _np.ndarray):
        return [float(v) for v in params.ravel()]
    return [float(v) for v in params]


def serve(trainer_class, stdin=None, stdout=None):
    """Answers the harness until `close` or the end of stdin."""
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    # Anything the trainer prints goes to the log, not into the protocol.
    sys.stdout = sys.stderr
    trainer = trainer_class()

    def reply(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    for line in stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            op = msg.get("op")
            if op == "hello":
                if msg.get("protocol") != PROTOCOL:
                    reply({"ok": False, "error": f"protocol {msg.get('protocol')} asked; this client speaks {PROTOCOL}"})
                    continue
                options = {k: {"default": d, "help": h} for k, (d, h) in trainer.options.items()}
                reply({"ok": True, "protocol": PROTOCOL, "name": trainer.name,
                       "versions": _versions(trainer), "options": options})
            elif op == "init":
                options = _options(trainer, msg.get("options", {}))
                problem = Problem(msg["problem"], options, trainer.uses_numpy)
                trainer.init(problem)
                reply({"ok": True})
            elif op == "ping":
                reply({"ok": True})
            elif op == "step":
                t0 = time.perf_counter()
                status = trainer.step()
                step_s = time.perf_counter() - t0
                reply({"ok": True, "status": "converged" if status == "converged" else "continue",
                       "step_s": step_s})
            elif op == "params":
                flat = _flat(trainer.params())
                if "path" in msg:
                    write_npy(msg["path"], flat)
                    reply({"ok": True})
                else:  # JSON has no NaN or infinity: those go as strings ("nan", "inf")
                    reply({"ok": True, "params": [v if math.isfinite(v) else repr(v) for v in flat]})
            elif op == "close":
                reply({"ok": True})
                return
            else:
                reply({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as e:  # every failure is the harness's to record
            reply({"ok": False, "error": f"{type(e).__name__}: {e}"})
