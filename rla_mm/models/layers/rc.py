"""Recurrent convolution (RC) with independent and double independent BN:
the bricks (BN groups, the RC cell, where a cell pools). The backbones and
the step state of cost-adjustable models are in ``backbones/rc_base.py``.

Papers:

* [RC-MC] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolutions: A Model
  Compression Point of View*, NeurIPS 2018 Workshop on Compact Deep Neural
  Networks with Industrial Applications (CDNNRIA; OpenReview H1fKsUQKjm, no
  arXiv version): Sec. 2 Eq. (2), Fig. 1(a), Table 1, App. A.
* [RC-CA] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact
  and Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809
  (2019): Sec. 3.1, Eq. (4), Sec. 3.3, Sec. 4.1 Eq. (6), Sec. 4.2, Alg. 1-2.

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
from typing import Optional, Sequence

from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ..utils import check_choice, check_int

RC_BN_MODES = ('independent', 'shared', 'none')


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
        check_choice('bn_mode', bn_mode, RC_BN_MODES)
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
        check_int('step', step, 1, self.max_steps)
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
        check_int('num_steps', num_steps, 1, self.max_steps)
        for step in range(1, num_steps + 1):
            x = self.forward_step(x, step, context)
        return x


def pool_before_step(num_steps: int) -> int:
    """The step before which an RCNet cell average-pools ([RC-CA] Sec. 5:
    after step ceil(n/2); [RC-MC] App. A: before the first step when n = 1).
    """
    return 1 if num_steps == 1 else math.ceil(num_steps / 2) + 1
