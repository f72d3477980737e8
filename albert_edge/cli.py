"""`albert-edge` command line. Each command lives in its own module exposing HELP,
add_arguments(parser) and run(args) -> exit code; this file only wires them together."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
import sys

from . import __version__, formats
from .errors import AlbertEdgeError

# (command words, module). Modules import heavy libraries lazily so `--help` stays fast.
# The export/quantize commands come from the format registry (albert_edge/formats.py).
COMMANDS: list[tuple[tuple[str, ...], str]] = [
    *sorted(formats.commands(), key=lambda c: c[0][0] != "export"),
    (("verify",), "albert_edge.parity"),
    (("check",), "albert_edge.check"),
    (("predict",), "albert_edge.predict"),
    (("pipeline",), "albert_edge.pipeline"),
    (("bench",), "albert_edge.benchmarks.bench_cli"),
    (("arm64-parity",), "albert_edge.arm64"),
    (("train",), "albert_edge.train"),
]

GROUP_HELP = {
    "export": f"export a checkpoint to an artifacts folder ({', '.join(f.name for f in formats.REGISTRY if any(w[0] == 'export' for w, _ in f.commands))})",
    "quantize": "add quantized artifacts to an artifacts folder",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the usage block before its error; every albert-edge mistake is one line."""

    def error(self, message: str):
        self.exit(2, f"albert-edge: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="albert-edge",
        description="Export, quantize, verify and benchmark fine-tuned ALBERT classifiers for edge devices.",
    )
    parser.add_argument("--version", action="version", version=f"albert-edge {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser)
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, modname in COMMANDS:
        mod = importlib.import_module(modname)
        if len(words) == 1:
            p = top.add_parser(words[0], help=mod.HELP, description=mod.HELP)
        else:
            if words[0] not in groups:
                gp = top.add_parser(words[0], help=GROUP_HELP[words[0]], description=GROUP_HELP[words[0]])
                groups[words[0]] = gp.add_subparsers(dest="format", metavar="FORMAT", required=True, parser_class=OneLineParser)
            p = groups[words[0]].add_parser(words[1], help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def quiet_third_party_logs() -> None:
    """transformers imports torchao (pulled in by litert-torch) which logs missing CUDA kernels and
    pytree deprecations on every start; none of it concerns a CPU export tool's user."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("torchao", "torch.utils._pytree", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    atexit.unregister(_quiet_litert_teardown)  # main() may run many times in one process (tests)
    atexit.register(_quiet_litert_teardown)


def _quiet_litert_teardown() -> None:
    """LiteRT's process-wide environment logs its teardown from C++ static destructors, after
    Python has finished (no log-level switch: LiteRT issue #7420). Once the command is done and
    its errors printed, fd 2 goes to /dev/null for that last step, only when LiteRT was used."""
    if "ai_edge_litert" not in sys.modules:
        return
    try:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same cleanup runs (staging folders removed)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _safe_streams() -> None:
    """Paths and texts may hold bytes that are not UTF-8 (argv is decoded with surrogateescape): print
    them escaped instead of failing with UnicodeEncodeError after the work is done."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass


def main(argv: list[str] | None = None) -> int:
    quiet_third_party_logs()
    _safe_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line usage error (already printed)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    old_term = None
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (tests calling main() from a worker)
        pass
    try:
        return int(args._run(args) or 0)
    except AlbertEdgeError as e:
        print(f"albert-edge: error: {_one_line(e)}", file=sys.stderr)
        return e.exit_code
    except Terminated:
        print("albert-edge: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("albert-edge: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # last line of defence: the staging/atomic writers name paths themselves
        from .staging import os_error_message

        print(f"albert-edge: error: {os_error_message(e, None)}", file=sys.stderr)
        return 2
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split("\n")).strip()


if __name__ == "__main__":
    sys.exit(main())
