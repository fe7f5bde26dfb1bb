"""The one atomic file writer of rla_mm (checkpoints, converted weights,
tool outputs), and the mmengine file backend that routes checkpoints to it.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes into
it, so a run killed while saving leaves a truncated ``epoch_N.pth`` behind that
breaks the next ``--resume``. Here every write goes to a temporary file
``.NAME.<random>.part`` in the target's directory, is flushed and fsynced,
and is renamed over the target (``os.replace`` is atomic on POSIX and
Windows): a file either is complete or is not there. On any error (including
``KeyboardInterrupt``) the temporary file is removed and an existing target
is left as it was; a ``kill -9`` can leave a ``.part`` file, which
:func:`remove_stale_parts` cleans up.

Permissions are those of a plain ``open(path, 'w')``: ``0o666 & ~umask`` for
a new file (``tempfile.mkstemp`` alone would give 0600), the old mode when
an existing file is replaced.

Example:
    >>> with atomic_writer('out/result.json', 'w') as f:
    ...     f.write('{}')
    >>> atomic_write_bytes(b'\\x00' * 8, 'out/blob.bin')
"""
import contextlib
import glob
import os
import os.path as osp
import re
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator, List, Optional, Union

from mmengine.fileio import LocalBackend, register_backend

#: Name under which :class:`AtomicLocalBackend` is registered in mmengine
#: (``backend_args=dict(backend=ATOMIC_BACKEND)``).
ATOMIC_BACKEND = 'rla_mm_atomic_local'
#: Suffix of the temporary files (``.NAME.<random>.part``).
PART_SUFFIX = '.part'
WRITE_MODES = ('wb', 'w', 'wt')

PathLike = Union[str, Path]
_umask_lock = threading.Lock()
# ``.NAME.`` + tempfile's 8 random characters + ``.part``
_PART_NAME = re.compile(r'\..+\.[a-z0-9_]{8}' + re.escape(PART_SUFFIX))


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read the only
    portable way (set and restore), under a lock.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _target_mode(filepath: str) -> int:
    """Mode a plain ``open(filepath, 'w')`` would leave the file with."""
    try:
        return stat.S_IMODE(os.stat(filepath).st_mode)
    except OSError:  # a new file
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_writer(filepath: PathLike,
                  mode: str = 'wb',
                  encoding: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``filepath`` when the block ends.

    Args:
        filepath: the target file; its directory is created if needed.
        mode: ``'wb'`` (bytes) or ``'w'`` / ``'wt'`` (text).
        encoding: text encoding (text modes only; default utf-8).

    Yields:
        The open temporary file. If the block raises, the temporary file is
        removed, the exception propagates and ``filepath`` is untouched.

    Example:
        >>> with atomic_writer('metrics.json', 'w') as f:
        ...     json.dump({'bbox_mAP': 0.4}, f)
    """
    if mode not in WRITE_MODES:
        raise ValueError(f'`mode` must be one of {WRITE_MODES}, got {mode!r}')
    if 'b' in mode and encoding is not None:
        raise ValueError('`encoding` is only for the text modes '
                         f"'w'/'wt', not {mode!r}")
    filepath = os.fspath(filepath)
    dirname = osp.dirname(osp.abspath(filepath))
    os.makedirs(dirname, exist_ok=True)
    file_mode = _target_mode(filepath)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.', suffix=PART_SUFFIX, dir=dirname)
    try:
        text = dict(encoding=encoding or 'utf-8') if 'b' not in mode else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode)
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_bytes(data: bytes, filepath: PathLike) -> None:
    """Write ``data`` to ``filepath`` through a temp file and a rename.

    Args:
        data: the complete file contents.
        filepath: the target; its directory is created if needed.
    """
    with atomic_writer(filepath, 'wb') as f:
        f.write(data)


def atomic_write_text(text: str,
                      filepath: PathLike,
                      encoding: str = 'utf-8') -> None:
    """Text version of :func:`atomic_write_bytes`."""
    with atomic_writer(filepath, 'w', encoding=encoding) as f:
        f.write(text)


def stale_parts(dirname: PathLike) -> List[str]:
    """The temporary files that an interrupted atomic write left in
    ``dirname`` (``.NAME.<random>.part``), sorted."""
    pattern = osp.join(glob.escape(os.fspath(dirname)), f'.*{PART_SUFFIX}')
    return sorted(p for p in glob.glob(pattern)
                  if _PART_NAME.fullmatch(osp.basename(p)) and osp.isfile(p))


def remove_stale_parts(dirname: PathLike) -> List[str]:
    """Remove what :func:`stale_parts` finds; return the removed paths.

    Call it only where no other process is writing into ``dirname`` (e.g. in
    the main process before training starts).
    """
    removed = []
    for path in stale_parts(dirname):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed.append(path)
    return removed


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes are atomic (temp file + rename)."""

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: PathLike,
                 encoding: str = 'utf-8') -> None:
        atomic_write_text(obj, filepath, encoding)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
