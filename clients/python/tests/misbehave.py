"""A trainer that misbehaves on purpose, for fitbench's tests of contained failures.

Options: `mode` (none, crash, hang, garbage, wrong_length, nan, slow, exit_at_init), `at`
(the step at which it misbehaves), `sleep_s` (seconds per step in mode slow) and `pidfile`
(where to write its process id). Its parameters never change: only its failures matter.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fitbench_trainer import Trainer, serve  # noqa: E402


class Misbehave(Trainer):
    name = "misbehave"
    uses_numpy = False
    options = {
        "mode": ("none", "none, crash, hang, garbage, wrong_length, nan, slow or exit_at_init"),
        "at": (3, "the step at which it misbehaves"),
        "sleep_s": (0.05, "seconds per step in mode slow"),
        "pidfile": ("", "a file to write the process id to"),
    }

    def init(self, problem):
        o = problem.options
        self.mode, self.at, self.sleep_s = o["mode"], o["at"], o["sleep_s"]
        if o["pidfile"]:
            with open(o["pidfile"], "w") as f:
                f.write(str(os.getpid()))
        if self.mode == "exit_at_init":
            print("misbehave: exiting during init on purpose", file=sys.stderr)
            os._exit(2)
        self.theta = list(problem.params)
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.mode == "slow":
            time.sleep(self.sleep_s)
        if self.steps == self.at:
            if self.mode == "crash":
                print("misbehave: crashing on purpose", file=sys.stderr)
                sys.stderr.flush()
                os._exit(3)
            if self.mode == "hang":
                print("misbehave: hanging on purpose", file=sys.stderr)
                sys.stderr.flush()
                time.sleep(3600)
            if self.mode == "garbage":
                sys.__stdout__.write("this is not JSON\n")
                sys.__stdout__.flush()
        return "continue"

    def params(self):
        if self.mode == "wrong_length" and self.steps >= self.at:
            return self.theta[:-1]
        if self.mode == "nan" and self.steps >= self.at:
            return [math.nan] + self.theta[1:]
        return self.theta


if __name__ == "__main__":
    serve(Misbehave)
