"""Runtime extensions of mmengine used by rla_mm's tools and configs.

- :mod:`.fileio`: the one atomic file writer and the mmengine backend
  ``rla_mm_atomic_local`` that routes checkpoints through it;
- :mod:`.safe_globals`: the allow-list that lets mmengine's own checkpoints
  load with ``torch.load(weights_only=True)``;
- :mod:`.launch`: distributed setup (gloo on CPU), early input checks;
- :mod:`.resume`: finding a checkpoint that loads, and refusing one that
  cannot be resumed from;
- :mod:`.checkpoint_check`: does a checkpoint fit a model (tools/test.py,
  ``init_cfg=dict(type='Pretrained')``);
- :mod:`.hooks`: training-loop hooks, registered in mmengine's root ``HOOKS``
  registry so that mmdet and mmpretrain configs can name them.

Nothing here imports :mod:`rla_mm.models`.
"""
from .fileio import (ATOMIC_BACKEND, AtomicLocalBackend, atomic_write_bytes,
                     atomic_write_text, atomic_writer, remove_stale_parts)
from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .safe_globals import allowed_checkpoint_globals, register_safe_globals

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'atomic_write_bytes',
    'atomic_write_text', 'atomic_writer', 'remove_stale_parts',
    'allowed_checkpoint_globals', 'register_safe_globals', *_hooks_all
]
