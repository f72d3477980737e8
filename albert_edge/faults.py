"""Named fault points, so tests can interrupt or starve a command at an exact moment.

`ALBERT_EDGE_FAULT=<point>[:<action>]` in the environment makes `point(<point>)` act once:
  sigint  (default) deliver a real SIGINT to this process, as Ctrl-C would
  sigterm           deliver SIGTERM
  kill              SIGKILL: no cleanup runs, like a power cut of the process
  enospc            raise OSError(ENOSPC), as a full disk would
Unset (the normal case) it costs one dict lookup. The points are listed in docs/guarantees.md.
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "ALBERT_EDGE_FAULT"
ACTIONS = ("sigint", "sigterm", "kill", "enospc")


def point(name: str, path: str | os.PathLike | None = None) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, action = spec.rpartition(":")  # point names contain ':' themselves
    if action not in ACTIONS:
        target, action = spec, "sigint"
    if target != name:
        return
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) if path is not None else None)
    sig = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "kill": signal.SIGKILL}[action]
    os.kill(os.getpid(), sig)
    # SIGINT/SIGTERM handlers run between bytecodes; give them one to run in.
    signal.getsignal(sig)
