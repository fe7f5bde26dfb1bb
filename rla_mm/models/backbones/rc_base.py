"""What the RC backbones (``RCNet``, ``RCResNet``) share: the unrolling-step
state of a cost-adjustable model and the stage layout that ``frozen_stages``
follows.

Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809
([RC-CA]): Sec. 4 and Alg. 1 (choosing the unrolling steps at inference),
Sec. 4.1 Eq. (6) (double independent BN), Sec. 4.2 (one unified step).

Two numbers describe the recurrence of an RC model (one naming scheme across
rla_mm: ``num_steps`` is always how many recurrent steps run):

* ``max_steps``: the most steps the model is BUILT for (n of R_2^n / S_2^n,
  m of R_4^m / S_4^m): how many BN groups, and, without weight sharing, how
  many conv pairs each cell has.
* ``num_steps``: how many steps RUN, at most ``max_steps``. Given alone it
  also fixes the architecture (``max_steps = num_steps``), so that
  ``RCNet(num_steps=2, share_weights=False)`` is S_2^2 and every parameter is
  used; a cost-adjustable model gives ``max_steps`` too and picks
  ``num_steps`` per forward (``set_num_steps``, ``RCStepSamplerHook``).
"""
from typing import Optional, Sequence, Union

from mmengine.model import BaseModule
from torch import nn

from ..layers.rc import RC_BN_MODES
from ..utils import (check_choice, check_frozen_stages, check_int,
                     check_int_sequence, check_out_indices)
from .base import FreezeStagesMixin

Steps = Union[int, Sequence[int]]


class AdjustableStepsMixin:
    """A model whose unrolling steps can change from one forward to the next
    ([RC-CA] Sec. 4, Alg. 1). ``RCStepSamplerHook`` calls ``set_num_steps``
    on every module of this type.

    Implementers keep ``max_steps`` (int), ``num_cells`` (int) and the
    per-cell steps ``cell_steps`` (tuple of ints).

    Example:
        >>> model = RCNet(max_steps=4, base_channels=4)
        >>> model.set_num_steps(2)
        >>> model.num_steps, model.cell_steps
        (2, (2, 2))
    """

    max_steps: int
    num_cells: int
    cell_steps: tuple

    @property
    def num_steps(self) -> Union[int, tuple]:
        """The active steps: an int when all cells agree, else per cell."""
        steps = tuple(self.cell_steps)
        return steps[0] if len(set(steps)) == 1 else steps

    def set_num_steps(self, num_steps: Steps) -> None:
        """Unroll every cell ``num_steps`` times (one unified step), or cell i
        ``num_steps[i]`` times (needs ``unified_steps=False`` with double
        independent BN, whose per-cell groups form the full matrix)."""
        if isinstance(num_steps, (list, tuple)):
            steps = check_int_sequence('num_steps', num_steps, self.num_cells)
        else:
            steps = (check_int('num_steps', num_steps), ) * self.num_cells
        for t in steps:
            check_int('num_steps', t, 1, self.max_steps)
        if len(set(steps)) > 1 and getattr(self, 'double_bn', False) and \
                getattr(self, 'unified_steps', True):
            raise ValueError(
                f'per-cell steps {steps} need `unified_steps=False`: with '
                'unified steps double independent BN only builds the lower '
                'triangle of [RC-CA] Eq. 6')
        self.cell_steps = steps


def resolve_max_steps(max_steps: Optional[int], num_steps: Optional[Steps],
                      default: int) -> int:
    """``max_steps`` as given; else ``num_steps`` (one int: the model is
    built for exactly the steps it runs); else ``default``.

    A per-cell ``num_steps`` does not say which architecture to build, so it
    needs ``max_steps``.
    """
    if max_steps is not None:
        return check_int('max_steps', max_steps)
    if num_steps is None:
        return default
    if isinstance(num_steps, (list, tuple)):
        raise ValueError(
            f'`num_steps`={num_steps!r} gives one step per cell: also give '
            '`max_steps`, the most steps the cost-adjustable model is built '
            'for')
    return check_int('num_steps', num_steps)


class BaseRCBackbone(AdjustableStepsMixin, FreezeStagesMixin, BaseModule):
    """Base of RCNet and RCResNet: the step state and ``frozen_stages``
    (stem = 0, then stage i = its blocks); ``norm_eval`` and ``train()`` come
    from ``FreezeStagesMixin``.

    Subclasses call ``_init_common`` first, build ``self.stem`` and the
    stages (``self.stage_modules(i)``: the modules of stage i, 1-based), then
    call ``self._freeze_stages()``.
    """

    def _init_common(self, *, max_steps: Optional[int],
                     num_steps: Optional[Steps], default_max_steps: int,
                     num_cells: int, share_weights: bool, bn_mode: str,
                     double_bn: bool, unified_steps: bool,
                     out_indices: Sequence[int], frozen_stages: int,
                     norm_eval: bool, in_channels: int,
                     base_channels: int) -> int:
        """Check and keep the arguments both RC backbones take (one cell =
        one stage), set the steps to run; return ``max_steps`` resolved by
        ``resolve_max_steps``."""
        check_int('in_channels', in_channels)
        check_int('base_channels', base_channels)
        check_choice('bn_mode', bn_mode, RC_BN_MODES)
        if double_bn and bn_mode != 'independent':
            raise ValueError("`double_bn=True` needs bn_mode='independent', "
                             f'got {bn_mode!r}')
        self.out_indices = check_out_indices(out_indices, num_cells)
        self.frozen_stages = check_frozen_stages(frozen_stages, num_cells)
        self.norm_eval = norm_eval
        self.share_weights = share_weights
        self.bn_mode = bn_mode
        self.max_steps = resolve_max_steps(max_steps, num_steps,
                                           default_max_steps)
        self.num_cells = num_cells
        self.double_bn = bool(double_bn)
        self.unified_steps = bool(unified_steps)
        self.cell_steps = (self.max_steps, ) * num_cells
        if num_steps is not None:
            self.set_num_steps(num_steps)
        return self.max_steps

    def stage_modules(self, index: int) -> Sequence[nn.Module]:
        """The modules of stage ``index`` (1-based)."""
        raise NotImplementedError

    def frozen_modules(self) -> Sequence[nn.Module]:
        modules = [self.stem] if self.frozen_stages >= 0 else []
        for i in range(1, self.frozen_stages + 1):
            modules.extend(self.stage_modules(i))
        return modules
