"""Peak CPU memory of a piece of PyTorch code, counted per tensor storage.

PyTorch has no allocator statistics on CPU (``torch.cuda.max_memory_allocated``
is CUDA only) and the process RSS mixes in the Python heap, the allocator's
caching and freed pages. ``StoragePeakTracker`` is a ``TorchDispatchMode``: it
sees every tensor an operator returns, adds the size of each new storage and
subtracts it when the storage is freed (a weakref finalizer), so ``peak`` is
the largest sum of live tensor storages allocated inside the ``with`` block,
forward and backward alike (autograd runs CPU backward on this thread).
Views and in-place results share their storage and are counted once.
"""
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class StoragePeakTracker(TorchDispatchMode):

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
