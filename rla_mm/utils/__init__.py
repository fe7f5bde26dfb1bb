from .atomic_io import ATOMIC_BACKEND, AtomicLocalBackend, atomic_write_bytes
from .checkpoint_compat import allowed_checkpoint_globals, register_safe_globals
from .launch import (check_inputs, find_resume_checkpoint, setup_distributed,
                     use_atomic_checkpoints)

__all__ = [
    'allowed_checkpoint_globals', 'register_safe_globals', 'ATOMIC_BACKEND',
    'AtomicLocalBackend', 'atomic_write_bytes', 'check_inputs',
    'find_resume_checkpoint', 'setup_distributed', 'use_atomic_checkpoints'
]
