"""Transactional writes to a folder: build the new state in a staging folder beside it, then swap.

Every command that adds or replaces artifacts runs inside `transaction(folder)`. The staging folder starts
as a hard-linked copy of what is kept (nothing is ever written into an existing file: new files are
written and renamed), the command writes its files and the manifest there, and on success the staging
folder is exchanged with the target in one atomic `renameat2(RENAME_EXCHANGE)`. So an interrupt, a crash,
a full disk or any error at any moment leaves either the complete old folder or the complete new one;
the staging folder is removed on failure (and leftovers of a killed process are removed by the next
transaction on the same folder). Transactions nest: a pipeline opens one and every stage inside it
writes into the same staging folder, so the whole pipeline is one swap.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import faults
from .errors import AlbertEdgeError

_STAGE = ".{}.stage-"
_OLD = ".{}.old-"


@dataclass
class Transaction:
    target: Path  # the folder the user named (absolute)
    dir: Path  # the staging folder: every write goes here

    def user_path(self, p: str | os.PathLike) -> str:
        """A path inside the staging folder, shown as the path it will have after the swap."""
        s = str(p)
        return str(self.target) + s[len(str(self.dir)) :] if s.startswith(str(self.dir)) else s


_ACTIVE: dict[Path, Transaction] = {}  # target and staging folder -> the open transaction


def active(folder: str | os.PathLike) -> Transaction | None:
    return _ACTIVE.get(Path(os.path.abspath(folder)))


def shown(p: str | os.PathLike) -> str:
    """`p` as the user will find it: a path inside an open transaction's staging folder (the pipeline
    runs every step there) is shown under the folder the user named."""
    s = os.path.abspath(p)
    for txn in list(_ACTIVE.values()):
        if s == str(txn.dir) or s.startswith(str(txn.dir) + os.sep):
            return txn.user_path(s)
    return str(p)


def current(folder: str | os.PathLike) -> Path:
    """Where `folder`'s current state is: its staging folder while this process has a transaction open on it."""
    txn = active(folder)
    return txn.dir if txn is not None else Path(folder)


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (copy where links fail) the entries of src into the existing folder dst."""
    for entry in os.scandir(src):
        s, d = Path(entry.path), dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(s), d)
        elif entry.is_dir():
            shutil.copytree(s, d, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(s, d)


def _link_or_copy(s, d) -> None:
    try:
        os.link(s, d)
    except OSError:
        shutil.copy2(s, d)


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C / SIGTERM wait until the swap and its cleanup are done (then they are delivered)."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, ValueError, OSError):  # not the main thread / platform without it
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_LOCKED: set[Path] = set()


@contextlib.contextmanager
def _locked(parent: Path) -> Iterator[None]:
    """One writer per parent folder at a time (advisory flock on the folder itself). A parent this
    process already holds is not locked again: a second flock from the same process would deadlock."""
    if parent in _LOCKED:
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _LOCKED.add(parent)
        yield
    finally:
        _LOCKED.discard(parent)
        os.close(fd)


def _recover(target: Path) -> None:
    """Finish or undo what a killed process left: restore a moved-away old folder, drop stale stages."""
    parent, name = target.parent, target.name
    for p in parent.glob(_OLD.format(name) + "*"):
        if not target.exists():
            os.replace(p, target)  # a crash between the two renames of the fallback swap
        else:
            shutil.rmtree(p, ignore_errors=True)
    for p in parent.glob(_STAGE.format(name) + "*"):
        shutil.rmtree(p, ignore_errors=True)


def as_os_error(e: BaseException) -> OSError | None:
    """An OSError, or the OS error inside a native library's exception (the tokenizers library raises a
    plain Exception "No space left on device (os error 28)"; C++ libraries put strerror in RuntimeError)."""
    if isinstance(e, OSError):
        return e
    msg = str(e)
    m = re.search(r"\(os error (\d+)\)", msg)
    if m:
        return OSError(int(m.group(1)), os.strerror(int(m.group(1))))
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        if os.strerror(code) in msg:
            return OSError(code, os.strerror(code))
    return None


def os_error_message(e: OSError, txn: Transaction | None) -> str:
    where = e.filename if e.filename else (txn.target if txn else "")
    if txn is not None:
        where = txn.user_path(where)
    what = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
    tail = f"; {txn.target} is unchanged" if txn is not None else ""
    return f"cannot write {where}: {what}{tail}"


@contextlib.contextmanager
def transaction(folder: str | os.PathLike, fresh: bool = False) -> Iterator[Transaction]:
    """Stage every change to `folder`; swap it in when the block succeeds.

    The staging folder starts as a hard-linked copy of the folder (fresh=True: empty); callers remove
    what the new state must not keep (artifacts.open_output drops another checkpoint's files).
    """
    target = Path(os.path.abspath(folder))
    if target.is_symlink():
        target = target.resolve()
    outer = _ACTIVE.get(target)
    if outer is not None:  # nested: the outermost transaction swaps
        yield outer
        return
    if target.exists() and not target.is_dir():
        raise AlbertEdgeError(f"output path {target} exists and is not a folder")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AlbertEdgeError(f"cannot create {parent} ({e.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AlbertEdgeError(f"cannot write into {parent} (permission denied)")
    txn = None
    with _locked(parent):
        _recover(target)
        try:
            stage = Path(tempfile.mkdtemp(prefix=_STAGE.format(target.name), dir=parent))
        except OSError as e:
            raise AlbertEdgeError(f"cannot create a staging folder in {parent} ({e.strerror})") from None
        txn = Transaction(target=target, dir=stage)
        _ACTIVE[target] = _ACTIVE[stage] = txn
        try:
            os.chmod(stage, 0o777 & ~_umask())
            if target.is_dir() and not fresh:
                _link_tree(target, stage)
            faults.point("txn:staged")
            yield txn
            faults.point("txn:before-swap")
            with _signals_deferred():
                _swap(stage, target)
                faults.point("txn:after-swap")
        except AlbertEdgeError:
            raise
        except Exception as e:  # noqa: BLE001 - only OS-level write failures are translated
            os_err = as_os_error(e)
            if os_err is None:
                raise
            raise AlbertEdgeError(os_error_message(os_err, txn)) from None
        finally:
            _ACTIVE.pop(target, None)
            _ACTIVE.pop(stage, None)
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
        return
    if _renameat2_exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # now holds the old folder
        return
    # Fallback (no RENAME_EXCHANGE): two renames; _recover() restores the old folder after a crash between them.
    old = Path(tempfile.mkdtemp(prefix=_OLD.format(target.name), dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(stage, target)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m
