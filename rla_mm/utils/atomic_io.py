"""Atomic local file writes for mmengine checkpoints.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes into
it, so a run killed while saving leaves a truncated ``epoch_N.pth`` behind that
breaks the next ``--resume``. ``AtomicLocalBackend`` writes to a temporary file
in the same directory, flushes it to disk and renames it over the target
(``os.replace`` is atomic on POSIX and Windows): a checkpoint file either is
complete or does not exist. rla_mm's ``tools/train.py`` selects it for the
``CheckpointHook`` (``backend_args=dict(backend='rla_mm_atomic_local')``).
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_BACKEND = 'rla_mm_atomic_local'


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a temp file and a rename."""
    filepath = str(filepath)
    dirname = osp.dirname(osp.abspath(filepath))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.', suffix='.part', dir=dirname)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes are atomic (temp file + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
