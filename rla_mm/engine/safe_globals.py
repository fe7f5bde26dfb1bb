"""Let mmengine's own checkpoints load with ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default. A checkpoint written
by mmengine's Runner stores its ``message_hub``: ``HistoryBuffer`` objects that
hold numpy arrays and, through ``HistoryBuffer.__getstate__``, the buffer's
statistic methods, which pickle as ``getattr(HistoryBuffer, 'min')``; ``meta``
holds numpy scalars. The weights-only unpickler rejects all of these, so
``--resume`` fails. Instead of turning the safety off we allow-list exactly
what such a checkpoint contains:

- ``mmengine.logging.HistoryBuffer``;
- numpy's ``ndarray``, ``dtype``, the concrete classes of the numeric dtypes
  (``numpy.dtypes.Float64DType``..., which unpickling a dtype builds) and the
  two pickling helpers ``_reconstruct`` and ``scalar``;
- ``builtins.getattr`` resolved to :func:`history_buffer_getattr`, which only
  returns ``HistoryBuffer.min/max/current/mean``. The real ``getattr`` is never
  allow-listed: it would let a crafted file reach any method of an allowed
  type (``ndarray.tofile`` writes files).
"""
import pickle

import numpy as np
import torch

#: The statistic methods that mmengine registers on every HistoryBuffer.
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to HistoryBuffer's default statistic methods."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'weights-only load refuses getattr({obj!r}, {name!r}): only '
        f'HistoryBuffer.{{{",".join(HISTORY_BUFFER_METHODS)}}} are allowed')


def allowed_checkpoint_globals() -> list:
    """The exact entries added to torch's weights-only allow-list."""
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2 moved the pickling helpers to ``numpy._core``
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    # bool, signed/unsigned ints, floats, complex: no object or str dtypes.
    numeric_dtypes = sorted({type(np.dtype(c)) for c in '?bBhHiIlLqQefdgFDG'},
                            key=lambda t: t.__name__)
    return [
        HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar,
        *numeric_dtypes, (history_buffer_getattr, 'builtins.getattr')
    ]


def register_safe_globals() -> None:
    """Allow-list mmengine checkpoint types for weights-only loading.

    A no-op on torch versions without ``torch.serialization.add_safe_globals``
    (< 2.4), which do not default to weights-only loading anyway.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add(allowed_checkpoint_globals())
