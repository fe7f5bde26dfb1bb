"""Argument checks shared by every rla_mm layer and backbone.

Each raises ``ValueError`` naming the argument, the allowed values and what it
got, at construction time (a bare ``assert`` disappears under ``python -O``,
and a bad value found inside torch's kernels names nothing a user wrote).
"""
import warnings
from typing import Any, Iterable, Optional, Sequence, Tuple


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_choice(name: str, value: Any, allowed: Iterable) -> Any:
    """Return ``value`` if it is one of ``allowed``.

    ``True``/``False`` never stand for 1/0 here (``True in (1, 2)`` would
    pass a plain ``in`` test), and vice versa.
    """
    allowed = tuple(allowed)
    if not any(value == a and isinstance(value, bool) == isinstance(a, bool)
               for a in allowed):
        raise ValueError(
            f'`{name}` must be one of {allowed}, got {value!r}')
    return value


def check_int(name: str,
              value: Any,
              low: int = 1,
              high: Optional[int] = None) -> int:
    """Return ``value`` if it is an int (not a bool) in ``[low, high]``."""
    if not _is_int(value) or value < low or (high is not None
                                             and value > high):
        bound = f'>= {low}' if high is None else f'in [{low}, {high}]'
        raise ValueError(f'`{name}` must be an int {bound}, got {value!r}')
    return value


def check_int_sequence(name: str,
                       value: Any,
                       length: Optional[int] = None,
                       low: int = 1) -> Tuple[int, ...]:
    """Return ``value`` as a tuple of ints >= ``low`` (``length`` of them)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        count = f'{length} ' if length is not None else ''
        raise ValueError(f'`{name}` must be a sequence of {count}ints >= '
                         f'{low}, got {value!r}')
    value = tuple(value)
    if (length is not None and len(value) != length) or any(
            not _is_int(v) or v < low for v in value):
        count = f'{length} ' if length is not None else ''
        raise ValueError(f'`{name}` must be a sequence of {count}ints >= '
                         f'{low}, got {value!r}')
    return value


def check_out_indices(value: Any, num_outputs: int) -> Tuple[int, ...]:
    """Return ``out_indices`` as a non-empty tuple of ints in
    ``[0, num_outputs)`` (an int alone is refused: ``out_indices=3`` is a
    common slip for ``(3, )``)."""
    allowed = tuple(range(num_outputs))
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) \
            or not value or any(not _is_int(i) or i not in allowed
                                for i in value):
        raise ValueError(f'`out_indices` must be a non-empty sequence of '
                         f'indices in {allowed}, got {value!r}')
    return tuple(value)


def check_concat_hidden(concat_hidden: bool, rla_channel: int,
                        out_indices: Sequence[int], num_stages: int) -> None:
    """``concat_hidden=True`` (the classification output ``cat(x, h)`` of
    an RLA network) needs a hidden state (``rla_channel`` > 0) and the last
    stage among the outputs."""
    if not concat_hidden:
        return
    if not rla_channel:
        raise ValueError('`concat_hidden=True` needs `rla_channel` > 0 '
                         '(rla_channel=0 is the network without RLA)')
    if num_stages - 1 not in out_indices:
        raise ValueError('`concat_hidden=True` concatenates h to the last '
                         f'stage, so `out_indices` must contain '
                         f'{num_stages - 1}, got {tuple(out_indices)}')


def check_frozen_stages(value: Any, num_stages: int) -> int:
    """Return ``frozen_stages`` if it is an int in [-1, num_stages]."""
    return check_int('frozen_stages', value, -1, num_stages)


def check_odd_int(name: str, value: Any) -> int:
    """Return ``value`` if it is a positive odd int (a kernel size whose
    "same" padding is symmetric)."""
    if not _is_int(value) or value < 1 or value % 2 == 0:
        raise ValueError(f'`{name}` must be a positive odd int, got '
                         f'{value!r}')
    return value


def check_renamed(name: str, value: Any, old_name: str, old_value: Any,
                  default: Any = None) -> Any:
    """Resolve an argument renamed from ``old_name`` to ``name``: the old name
    still works (with a ``FutureWarning``, which Python shows to end users by
    default), giving both is an error, giving neither returns ``default``."""
    if old_value is None:
        return default if value is None else value
    if value is not None:
        raise ValueError(f'give `{name}` only (`{old_name}` is its deprecated '
                         f'alias), got both {value!r} and {old_value!r}')
    warnings.warn(f'`{old_name}` is deprecated, use `{name}`', FutureWarning,
                  stacklevel=3)
    return old_value


def check_odd_kernel_sizes(name: str, value: Any,
                           length: int) -> Tuple[int, ...]:
    """Return ``length`` positive odd kernel sizes as a tuple (ECA kernels:
    "same" padding needs an odd size)."""
    sizes = check_int_sequence(name, value, length)
    if any(k % 2 == 0 for k in sizes):
        raise ValueError(f'`{name}` must hold {length} positive odd ints, '
                         f'got {value!r}')
    return sizes
