"""rla_mm: recurrence in CNNs for MMDetection 3.x and MMPretrain 1.x.

``import rla_mm`` (or ``custom_imports=dict(imports=['rla_mm'])`` in a config)
registers every rla_mm model in mmengine's root ``MODELS`` registry and every
hook in its root ``HOOKS`` registry, from which mmdet's and mmpretrain's
registries build them, registers the atomic checkpoint backend, and
allow-lists the types that mmengine checkpoints need for
``torch.load(weights_only=True)``. Checkpoint conversion lives in
:mod:`rla_mm.converters` (imported on demand).
"""
from .engine.safe_globals import register_safe_globals
from .version import __version__

register_safe_globals()

from . import engine, models  # noqa: E402,F401  (register hooks and models)

__all__ = ['__version__', 'engine', 'models']
