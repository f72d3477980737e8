"""Memory worker: `python -m albert_edge.benchmarks.worker` reads one job (JSON) on stdin, loads one
artifact in this fresh process, and prints one JSON line with its RSS and load time."""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    job = json.loads(sys.stdin.read())
    from .measure import memory_inproc

    try:
        res = memory_inproc(job["spec"], int(job["threads"]), job["variant"], int(job["seq_len"]), weight_cache=job.get("weight_cache"))
    except Exception as e:  # reported by the parent as a note on that artifact
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        print(json.dumps({"error": msg}))
        return 0
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
