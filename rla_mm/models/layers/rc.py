"""Recurrent convolution (RC) with independent and double independent BN.

Papers (``/work/shared/papers``):

* [RC-MC] Zhang & Jung, *Recurrent Convolutions: A Model Compression Point of
  View* (003): Sec. 2 Eq. (2), Fig. 1(a), Table 1, App. A.
* [RC-CA] Zhang & Jung, *Recurrent Convolution for Compact and Cost-Adjustable
  Neural Networks* (001): Sec. 3.1, Eq. (4), Sec. 3.3, Sec. 4.1 Eq. (6),
  Sec. 4.2, Alg. 1-2.

An RC cell unrolls one pre-activation residual block ``t`` times with the
SAME conv weights ``w_c`` and, at step k, its OWN group of BN layers ``b_k``
(Eq. 4)::

    h_k = f(h_{k-1}; w_c, b_k),   k = 1..t
    f(h; w, b) = h + conv2(ReLU(BN_b[1](conv1(ReLU(BN_b[0](h))))))

``bn_mode`` picks the BN usage of Table 2 ([RC-CA]) / Table 1 ([RC-MC]):
``'independent'`` (one group per step, the paper's method), ``'shared'`` (one
group for every step) or ``'none'``. ``share_weights=False`` gives each step
its own convs: the standard network S with exactly the same graph.

Double independent BN (Sec. 4.1, Eq. 6): when the steps vary between
iterations, the statistics a cell sees also depend on how many steps its
upstream cell ran, so the group used at own step k is ``b_{u,k}``, u being
the upstream cell's step count (the "context"). With one unified step t for
every cell (Sec. 4.2) u = t, so only the lower triangle ``k <= u`` of the
m x n matrix of Eq. 6 is ever used and built.
"""
import math
from typing import Optional, Sequence, Union

from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS

RC_BN_MODES = ('independent', 'shared', 'none')


def check_int(name: str, value, low: int = 1) -> None:
    """Raise ValueError unless ``value`` is an int >= ``low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f'`{name}` must be an int >= {low}, got {value!r}')


class StepNorms(nn.ModuleList):
    """The BN groups of one RC block, one group per (context, step) pair.

    Group ``(c, k)`` holds one norm per entry of ``channels`` and is used at
    own step k when the upstream cell ran c steps ([RC-CA] Eq. 6). Groups are
    stored in row-major (c, k) order: ``norms[g][j]`` is norm j of group g.

    Args:
        channels (Sequence[int]): Channels of each norm of a group.
        max_steps (int): n, the largest own step.
        bn_mode (str): ``'independent'`` (a group per pair), ``'shared'`` (one
            group for every pair) or ``'none'`` (identities, no parameters).
        num_contexts (int): m, the upstream step counts to condition on;
            1 = not conditioned (independent BN of Sec. 3.1), > 1 = double
            independent BN (Sec. 4.1). Needs ``bn_mode='independent'``.
        triangular (bool): With ``num_contexts > 1``, build only the pairs
            with ``k <= c`` (unified steps, Sec. 4.2); else all m x n.
        norm_cfg (dict): Config of each norm.

    Example:
        >>> norms = StepNorms([8, 8], max_steps=3, num_contexts=3)
        >>> len(norms), norms.pairs[:3]
        (6, ((1, 1), (2, 1), (2, 2)))
    """

    def __init__(self,
                 channels: Sequence[int],
                 max_steps: int,
                 bn_mode: str = 'independent',
                 num_contexts: int = 1,
                 triangular: bool = True,
                 norm_cfg: dict = dict(type='BN')) -> None:
        check_int('max_steps', max_steps)
        check_int('num_contexts', num_contexts)
        if bn_mode not in RC_BN_MODES:
            raise ValueError(f'`bn_mode` must be one of {RC_BN_MODES}, got '
                             f'{bn_mode!r}')
        if num_contexts > 1 and bn_mode != 'independent':
            raise ValueError('double independent BN (`num_contexts` > 1) '
                             f"needs bn_mode='independent', got {bn_mode!r}")
        if bn_mode == 'none':
            pairs = ()
        elif bn_mode == 'shared':
            pairs = ((1, 1), )
        else:
            pairs = tuple((c, k) for c in range(1, num_contexts + 1)
                          for k in range(1, max_steps + 1)
                          if num_contexts == 1 or not triangular or k <= c)
        super().__init__(
            nn.ModuleList(build_norm_layer(norm_cfg, ch)[1] for ch in channels)
            for _ in pairs)
        self.bn_mode = bn_mode
        self.max_steps = max_steps
        self.num_contexts = num_contexts
        self.pairs = pairs
        self._index = {p: i for i, p in enumerate(pairs)}
        # Plain tuple: not registered, so 'none' adds no state-dict entries.
        self._identities = tuple(nn.Identity() for _ in channels)

    def group(self, step: int, context: int = 1) -> Sequence[nn.Module]:
        """The norms used at own step ``step`` after ``context`` upstream
        steps (both 1-based)."""
        if not 1 <= step <= self.max_steps:
            raise ValueError(
                f'`step` must be in [1, {self.max_steps}], got {step!r}')
        if self.bn_mode == 'none':
            return self._identities
        if self.bn_mode == 'shared':
            return self[0]
        try:
            return self[self._index[(context, step)]]
        except KeyError:
            raise KeyError(
                f'no norm group for (upstream steps {context}, step {step}); '
                f'built pairs: {self.pairs}') from None


@MODELS.register_module()
class RCPreActBlock(BaseModule):
    """A pre-activation residual block that can be unrolled (an RC cell).

    [RC-MC] Fig. 1(a) / [RC-CA] Sec. 5 ("each cell is a preact-resblock"):
    ``BN-ReLU-conv3x3-BN-ReLU-conv3x3`` (no bias) plus identity, unrolled up to
    ``max_steps`` times with shared convs (Eq. 4). With ``max_steps=1`` and
    ``in_channels != out_channels`` or ``stride > 1`` it is the plain
    non-recurrent block T of Eq. 10, whose shortcut is a 1x1 conv on the
    pre-activated input (the layout of the standard pre-activation ResNet of
    [RC-CA] Table 5).

    Parameter names say what is shared: with ``share_weights`` and
    ``max_steps > 1`` the convs live in ``shared_convs`` (``[conv1, conv2]``),
    else in ``step_convs[k - 1]``; the BN groups are ``norms`` (a
    ``StepNorms``), or ``shared_norms`` when ``bn_mode='shared'`` reuses one
    group over several steps. So ``paramwise_cfg=dict(custom_keys={
    '.shared_convs.': dict(lr_mult=0.5), '.shared_norms.': dict(lr_mult=0.5)})``
    gives every shared parameter half the lr ([RC-CA] Sec. 3.3).

    Args:
        in_channels (int): Input channels.
        out_channels (int, optional): Output channels (default: in).
        stride (int): Stride of conv1 and of the shortcut.
        max_steps (int): n, the most unrolling steps.
        share_weights (bool): Share the convs over steps (RC, R_2^n) or not
            (the standard network S_2^n).
        bn_mode (str): ``'independent'`` (default), ``'shared'`` or ``'none'``.
        num_contexts (int): > 1 turns on double independent BN conditioned on
            that many upstream step counts (Sec. 4.1). Default 1.
        triangular (bool): Build only the lower triangle of Eq. 6 (unified
            steps). Default True.
        conv_cfg (dict, optional), norm_cfg (dict), act_cfg (dict): Layers.
        init_cfg (dict, optional): Initialization config.

    Example:
        >>> cell = RCPreActBlock(16, max_steps=4)
        >>> cell(torch.rand(2, 16, 8, 8), num_steps=3).shape
        torch.Size([2, 16, 8, 8])
        >>> block = RCPreActBlock(16, 32, stride=2)
        >>> block(torch.rand(2, 16, 8, 8)).shape
        torch.Size([2, 32, 4, 4])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 stride: int = 1,
                 max_steps: int = 1,
                 share_weights: bool = True,
                 bn_mode: str = 'independent',
                 num_contexts: int = 1,
                 triangular: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        out_channels = in_channels if out_channels is None else out_channels
        check_int('in_channels', in_channels)
        check_int('out_channels', out_channels)
        check_int('stride', stride)
        check_int('max_steps', max_steps)
        if max_steps > 1 and (in_channels != out_channels or stride != 1):
            raise ValueError(
                'an unrolled block must keep its shape ([RC-CA] Sec. 3.3): '
                f'max_steps={max_steps} needs in_channels == out_channels and '
                f'stride == 1, got {in_channels} -> {out_channels}, stride '
                f'{stride}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.max_steps = max_steps
        self.shares_weights = bool(share_weights) and max_steps > 1

        def conv_pair():
            return nn.ModuleList([
                build_conv_layer(conv_cfg, in_channels, out_channels, 3,
                                 stride=stride, padding=1, bias=False),
                build_conv_layer(conv_cfg, out_channels, out_channels, 3,
                                 stride=1, padding=1, bias=False)
            ])

        if self.shares_weights:
            self.shared_convs = conv_pair()
        else:
            self.step_convs = nn.ModuleList(
                conv_pair() for _ in range(max_steps))
        norms = StepNorms([in_channels, out_channels], max_steps, bn_mode,
                          num_contexts, triangular, norm_cfg)
        if bn_mode == 'shared' and max_steps > 1:
            self.shared_norms = norms
        else:
            self.norms = norms
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = build_conv_layer(
                conv_cfg, in_channels, out_channels, 1, stride=stride,
                bias=False)
        self.act = build_activation_layer(act_cfg)

    @property
    def step_norms(self) -> StepNorms:
        """The BN groups, whatever their attribute name."""
        shared = self._modules.get('shared_norms')
        return self.norms if shared is None else shared

    def convs_at(self, step: int) -> Sequence[nn.Module]:
        """``(conv1, conv2)`` used at step ``step`` (1-based)."""
        if self.shares_weights:
            return self.shared_convs
        return self.step_convs[step - 1]

    def forward_step(self, x: Tensor, step: int = 1,
                     context: int = 1) -> Tensor:
        """One unrolling step k = ``step`` after ``context`` upstream steps."""
        norm1, norm2 = self.step_norms.group(step, context)
        conv1, conv2 = self.convs_at(step)
        out = self.act(norm1(x))
        identity = x if self.shortcut is None else self.shortcut(out)
        out = conv2(self.act(norm2(conv1(out))))
        return out + identity

    def forward(self,
                x: Tensor,
                num_steps: Optional[int] = None,
                context: int = 1) -> Tensor:
        """Unroll ``num_steps`` (default ``max_steps``) steps (Alg. 1)."""
        num_steps = self.max_steps if num_steps is None else num_steps
        if not isinstance(num_steps, int) or not 1 <= num_steps <= \
                self.max_steps:
            raise ValueError(f'`num_steps` must be an int in [1, '
                             f'{self.max_steps}], got {num_steps!r}')
        for step in range(1, num_steps + 1):
            x = self.forward_step(x, step, context)
        return x


def pool_before_step(num_steps: int) -> int:
    """The step before which an RCNet cell average-pools ([RC-CA] Sec. 5:
    after step ceil(n/2); [RC-MC] App. A: before the first step when n = 1).
    """
    return 1 if num_steps == 1 else math.ceil(num_steps / 2) + 1


class AdjustableStepsMixin:
    """A model whose unrolling steps can change from one forward to the next
    ([RC-CA] Sec. 4, Alg. 1). ``RCStepSamplerHook`` calls ``set_num_steps``
    on every module of this type.

    Implementers keep ``max_steps`` (int), ``num_cells`` (int) and the
    per-cell steps ``cell_steps`` (tuple of ints).
    """

    max_steps: int
    num_cells: int
    cell_steps: tuple

    @property
    def num_steps(self) -> Union[int, tuple]:
        """The active steps: an int when all cells agree, else per cell."""
        steps = tuple(self.cell_steps)
        return steps[0] if len(set(steps)) == 1 else steps

    def set_num_steps(self, num_steps: Union[int, Sequence[int]]) -> None:
        """Unroll every cell ``num_steps`` times (one unified step), or cell i
        ``num_steps[i]`` times (needs ``unified_steps=False`` with double
        independent BN, whose per-cell groups form the full matrix)."""
        if isinstance(num_steps, int) and not isinstance(num_steps, bool):
            steps = (num_steps, ) * self.num_cells
        elif isinstance(num_steps, (list, tuple)) and \
                len(num_steps) == self.num_cells:
            steps = tuple(num_steps)
        else:
            raise ValueError(
                '`num_steps` must be an int or a sequence of '
                f'{self.num_cells} ints (one per cell), got {num_steps!r}')
        for t in steps:
            if not isinstance(t, int) or isinstance(t, bool) or \
                    not 1 <= t <= self.max_steps:
                raise ValueError(f'`num_steps` must be in [1, '
                                 f'{self.max_steps}], got {num_steps!r}')
        if len(set(steps)) > 1 and getattr(self, 'double_bn', False) and \
                getattr(self, 'unified_steps', True):
            raise ValueError(
                f'per-cell steps {steps} need `unified_steps=False`: with '
                'unified steps double independent BN only builds the lower '
                'triangle of [RC-CA] Eq. 6')
        self.cell_steps = steps


class BaseRCBackbone(AdjustableStepsMixin, BaseModule):
    """What RCNet and RCResNet share: the step state, ``frozen_stages``
    (stem = 0, then stage i = its blocks) and ``norm_eval``.

    Subclasses build ``self.stem`` and ``self.stage_modules(i)`` (the modules
    of stage i, 1-based) and call ``self._freeze_stages()`` at the end of
    their ``__init__``.
    """

    def _init_steps(self, max_steps: int, num_steps, num_cells: int,
                    double_bn: bool, unified_steps: bool) -> None:
        check_int('max_steps', max_steps)
        self.max_steps = max_steps
        self.num_cells = num_cells
        self.double_bn = bool(double_bn)
        self.unified_steps = bool(unified_steps)
        self.cell_steps = (max_steps, ) * num_cells
        if num_steps is not None:
            self.set_num_steps(num_steps)

    @staticmethod
    def _check_common(bn_mode, double_bn, out_indices, num_stages,
                      frozen_stages) -> tuple:
        if bn_mode not in RC_BN_MODES:
            raise ValueError(f'`bn_mode` must be one of {RC_BN_MODES}, got '
                             f'{bn_mode!r}')
        if double_bn and bn_mode != 'independent':
            raise ValueError("`double_bn=True` needs bn_mode='independent', "
                             f'got {bn_mode!r}')
        out_indices = tuple(out_indices)
        if not out_indices or any(
                not isinstance(i, int) or not 0 <= i < num_stages
                for i in out_indices):
            raise ValueError(f'`out_indices` must be a non-empty subset of '
                             f'{tuple(range(num_stages))}, got {out_indices}')
        if not isinstance(frozen_stages, int) or \
                not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'`frozen_stages` must be an int in [-1, '
                             f'{num_stages}], got {frozen_stages!r}')
        return out_indices

    def stage_modules(self, index: int) -> Sequence[nn.Module]:
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen.append(self.stem)
        for i in range(1, self.frozen_stages + 1):
            frozen.extend(self.stage_modules(i))
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseRCBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
