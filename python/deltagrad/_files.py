"""Crash-safe file writes: every file deltagrad writes goes through atomic_write.

The data goes to a temporary file in the target's directory, is flushed and fsynced, then
os.replace()d over the target and the directory is fsynced. A crash or kill at any moment
leaves either the previous file or the new one, never a torn mix; an exception inside the
block removes the temporary file and leaves the target untouched. A temporary file left by a
killed process (``.<name>.<pid>.<random>.dgtmp``) is removed by the next atomic_write to the
same target once that process no longer exists.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import IO, Any, Callable

__all__ = ["atomic_write", "atomic_savefig"]

# Test-only hook: when not None, called as _before_replace(path) (path: the target, a str)
# after the temporary file is fsynced and before it is renamed over the target. Tests set it to
# pause there (then kill the process) or to raise.
_before_replace: Callable[[str], Any] | None = None

_SUFFIX = ".dgtmp"


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _remove_stale(directory: str, base: str) -> None:
    """Remove temporary files of `base` left behind by processes that no longer run."""
    prefix = f".{base}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
            continue
        middle = name[len(prefix) : -len(_SUFFIX)].split(".")
        if len(middle) != 2 or not middle[0].isdigit():
            continue
        if not _pid_alive(int(middle[0])):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def _keep_mode(target: str, tmp: str) -> None:
    """Give the temporary file the permission bits of the file it replaces, when there is one
    (a checkpoint made chmod 600 stays 600; a new file gets 0o666 & ~umask, as open())."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return
    os.chmod(tmp, mode)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """``with atomic_write(path) as f: f.write(...)``: the file at exactly `path` is replaced
    only when the block completes (temp file in the same directory, flush, fsync,
    os.replace, fsync of the directory). mode: "wb" (bytes) or "w" (UTF-8 text). A symlink
    at `path` is followed: its target is replaced and the link kept. An existing file's
    permission bits are kept (the new one gets them before the rename)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode: expected 'wb' or 'w', got {mode!r}")
    target = os.fspath(path)
    if not isinstance(target, str):
        target = os.fsdecode(target)
    if os.path.islink(target):
        target = os.path.realpath(target)
    directory, base = os.path.split(os.path.abspath(target))
    if not base:
        raise IsADirectoryError(f"atomic_write: path {target!r} names a directory")
    _remove_stale(directory, base)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}{_SUFFIX}")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open()
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    try:
        if mode == "wb":
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _keep_mode(target, tmp)
        hook = _before_replace
        if hook is not None:
            hook(target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_savefig(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """``fig.savefig`` through atomic_write, at exactly `path`. The format is given explicitly
    (the temporary file's name has no extension): `path`'s extension, else matplotlib's
    default (savefig.format, png)."""
    ext = os.path.splitext(os.fsdecode(path))[1][1:].lower()
    kwargs.setdefault("format", ext or None)
    with atomic_write(path) as f:
        fig.savefig(f, **kwargs)
