"""Peak memory of a piece of PyTorch code, counted per tensor storage.

PyTorch has no allocator statistics on CPU (``torch.cuda.max_memory_allocated``
is CUDA only) and the process RSS mixes in the Python heap, the allocator's
caching and freed pages. :class:`StoragePeakTracker` is a
``TorchDispatchMode``: it sees every tensor an operator returns, adds the size
of each new storage and subtracts it when the storage is freed (a weakref
finalizer), so ``peak`` is the largest sum of live tensor storages allocated
inside the ``with`` block, forward and backward alike (autograd runs CPU
backward on this thread). Views and in-place results share their storage and
are counted once.

Example:
    >>> with StoragePeakTracker() as tracker:
    ...     a = torch.zeros(256, 1024)      # 1 MiB
    ...     b = a + 1                       # 1 MiB more
    ...     del a, b
    >>> tracker.peak
    2097152
"""
import weakref
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ['StoragePeakTracker', 'peak_step_memory']


class StoragePeakTracker(TorchDispatchMode):
    """Track the peak of live CPU tensor storages created in its block.

    Attributes:
        current (int): Bytes of the tracked storages alive now.
        peak (int): Largest ``current`` seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = {}
        self.current = 0
        self.peak = 0

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type != 'cpu' \
                    or t.is_mkldnn or t.is_sparse:
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in self.live:
                continue
            self.live[key] = nbytes
            self.current += nbytes
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._free, key)
        return out


def peak_step_memory(step: Callable[[], None], device: str) -> int:
    """Bytes that ``step()`` allocates at its peak beyond what was allocated
    before it: on CUDA the caching allocator's peak, on CPU the peak of live
    tensor storages (:class:`StoragePeakTracker`).

    Args:
        step (callable): One step, e.g. from ``make_step``.
        device (str): ``'cpu'`` or a CUDA device.
    """
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with StoragePeakTracker() as tracker:
        step()
    return tracker.peak
