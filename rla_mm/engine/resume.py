"""``--resume`` that survives an interrupted save and refuses, in one line,
a file it cannot resume from.

mmengine's auto-resume trusts the ``last_checkpoint`` pointer: if the file
it names was deleted (mmengine's ``CheckpointHook`` with ``max_keep_ckpts``
removed it before the next save completed) or truncated (a non-atomic
writer was killed), ``--resume`` fails with a traceback. Here the newest
checkpoint that loads is used and the pointer repaired; a checkpoint that
is not a training checkpoint (a converted classifier, weights only) is
named with the remedy.
"""
import glob
import os.path as osp
import re
from typing import List, Optional

from .checkpoint_check import load_state_dict_file
from .errors import UserInputError
from .fileio import atomic_write_text

_CKPT_RE = re.compile(r'(epoch|iter)_(\d+)\.pth$')


def checkpoint_files(work_dir: str) -> List[str]:
    """``epoch_*.pth`` / ``iter_*.pth`` of a work dir, newest first."""
    candidates = []
    for path in glob.glob(osp.join(glob.escape(work_dir), '*.pth')):
        m = _CKPT_RE.search(osp.basename(path))
        if m:
            candidates.append((m.group(1) == 'iter', int(m.group(2)), path))
    return [path for *_, path in sorted(candidates, reverse=True)]


def _loadable(path: str) -> bool:
    try:
        load_state_dict_file(path)
        return True
    except UserInputError:
        return False


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint in ``work_dir`` that loads, or None.

    Prefers what ``last_checkpoint`` names (mmengine's own pointer); if that
    file is missing, empty or names an unreadable checkpoint, falls back to
    the newest ``epoch_*.pth``/``iter_*.pth`` that loads, and repairs the
    pointer.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named) and _loadable(named):
            return named
    for path in checkpoint_files(work_dir):
        if _loadable(path):
            atomic_write_text(path, pointer)
            return path
    return None


def check_resumable(path: str) -> dict:
    """Load ``path`` and check that a run can resume from it.

    Returns:
        The loaded checkpoint.

    Raises:
        UserInputError: a missing or truncated file, or one without the
            training state (``meta['epoch']``, ``meta['iter']``,
            ``state_dict``), e.g. a converted or classifier checkpoint.
    """
    ckpt = load_state_dict_file(path, '--resume checkpoint')
    meta = ckpt.get('meta')
    lacks = [k for k in ('epoch', 'iter')
             if not isinstance(meta, dict) or k not in meta]
    if lacks or not isinstance(ckpt.get('state_dict'), dict):
        what = f"meta['{lacks[0]}']" if lacks else 'state_dict'
        raise UserInputError(
            f'--resume checkpoint {path} is not a training checkpoint (it has '
            f'no {what}: weights only, e.g. a converted or a classifier '
            'file); to start a new run from its weights use --cfg-options '
            f'load_from={path} without --resume')
    return ckpt


def resolve_resume(work_dir: str, resume: Optional[str]):
    """What ``--resume [PATH]`` means for a work dir.

    Args:
        work_dir: the run's work dir.
        resume: None (no ``--resume``), ``'auto'`` (``--resume`` alone) or
            a path.

    Returns:
        (checkpoint path or None, a line to log or None). None with a line:
        ``--resume`` found nothing to resume and the run starts fresh.

    Raises:
        UserInputError: ``--resume`` alone, checkpoint files in the work dir
            but none loads; or PATH not resumable (see
            :func:`check_resumable`).
    """
    if resume is None:
        return None, None
    if resume != 'auto':
        check_resumable(resume)
        return resume, None
    found = find_resume_checkpoint(work_dir)
    if found is not None:
        check_resumable(found)
        return found, None
    broken = checkpoint_files(work_dir)
    if broken:
        raise UserInputError(
            f'--resume: no checkpoint in {work_dir} loads ({len(broken)} '
            f'unreadable, newest {osp.basename(broken[0])}); move them away '
            'to start from scratch, or pass --resume PATH')
    return None, (f'--resume: no checkpoint in {work_dir} yet: starting '
                  'from scratch')
