"""RLA-MobileNetV2 (RLA paper: Zhao, Fang and Li, *Recurrence along Depth:
Deep Convolutional Neural Networks with Recurrent Layer Aggregation*,
NeurIPS 2021, arXiv:2110.11852; App. B.2.1, Sec. 3.3 guidelines, Table 3).

MobileNetV2's seven groups of inverted residual blocks form five RLA stages,
one per resolution (guideline 1 of Sec. 3.3): a new stage starts at each
stride-2 group and the stride-1 groups (widths 16 and 96, then 320) join the
stage before. App. B.2.1 adapts the RLA module of Fig. 3 to the inverted
residual block in two ways, both implemented here:

1. h is concatenated with the block's features *after* the first 1x1
   (expansion) conv, so the depthwise 3x3 conv and the linear 1x1 projection
   see ``hidden + k`` channels and the expansion step does not grow;
2. the recurrent 3x3 conv of each stage is depthwise (on k channels).

For block j of a group, with y_j the feature aggregated by RLA (Eq. (11))::

    h <- dwconv3x3_s( tanh( BN_j( h + conv1x1_g(y_j) ) ) )

where ``conv1x1_g`` (y -> k) is shared by the blocks of group g (seven groups,
since the width changes inside a resolution stage), ``dwconv3x3_s`` by the
blocks of resolution stage s, and ``BN_j`` is one per block. h is average
pooled at the stride-2 blocks.

Layout of the state dict (mmpretrain's ``MobileNetV2`` names where possible):
``conv1.{conv,bn}``; ``layer{g}.{j}.expand_conv`` (absent when the expand
ratio is 1), ``layer{g}.{j}.depthwise_conv``, ``layer{g}.{j}.linear_conv``,
``layer{g}.{j}.eca.conv``; ``layer{g}.rla.conv_out``, ``layer{g}.rla.norms.j``;
``recurrent_convs.s``; ``hidden_norm`` and ``conv2``. Each group is an
``RLALayer`` whose ``RLAUnit`` uses its stage's recurrent conv
(``shared_recurrent_conv``), so Eq. (11) and the loop over blocks are the
ones of every RLA network (``rla_mm/models/layers/rla.py``).
"""
from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule, build_activation_layer, build_conv_layer
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.utils import make_divisible
from torch import Tensor, nn

from ...registry import MODELS
from ..layers import (ECA, RLABlockMixin, RLALayer, RLAUnit,
                      apply_pending_update, concat_hidden, zeros_hidden)
from ..utils import (check_choice, check_frozen_stages, check_int,
                     check_odd_kernel_sizes, check_out_indices)
from .base import FreezeStagesMixin

RLA_MBV2_SOURCES = ('residual', 'output')


class RLAInvertedResidual(RLABlockMixin, BaseModule):
    """Inverted residual block that reads h after its expansion conv.

    ``expand_conv`` (1x1, hidden channels; absent when ``expand_ratio`` is 1)
    -> ``cat(., h)`` -> ``depthwise_conv`` (3x3, hidden + k channels, stride)
    -> ``linear_conv`` (1x1 to ``out_channels``, no activation) -> ECA when
    ``eca_kernel_size`` is given. The shortcut is added when the stride is 1
    and the widths match, as in MobileNetV2.

    Args:
        in_channels (int): Channels of x.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise conv (1 or 2).
        expand_ratio (int): Hidden channels = round(in_channels * ratio).
        rla_channel (int): k, channels of h.
        eca_kernel_size (int, optional): Add ECA with this kernel.
        rla_source (str): ``'residual'`` (default): y is the branch output
            (after ECA), as the paper's Fig. 3 describes; ``'output'``: y is
            the block output including the shortcut. Identical for blocks
            without shortcut.
        conv_cfg, norm_cfg, act_cfg (dict): As mmpretrain's InvertedResidual.

    Example:
        >>> blk = RLAInvertedResidual(24, 24, 1, 6, rla_channel=8)
        >>> out, y = blk(torch.rand(1, 24, 16, 16), torch.rand(1, 8, 16, 16))
        >>> out.shape, blk.depthwise_conv.conv.weight.shape
        (torch.Size([1, 24, 16, 16]), torch.Size([152, 1, 3, 3]))
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 expand_ratio: int,
                 rla_channel: int,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'residual',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        check_choice('stride', stride, (1, 2))
        check_int('rla_channel', rla_channel)
        self.rla_channel = rla_channel
        self.stride = stride
        self.rla_source = rla_source
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.expand_conv = ConvModule(
            in_channels, hidden, 1, act_cfg=act_cfg,
            **common) if expand_ratio != 1 else None
        width = hidden + rla_channel
        self.depthwise_conv = ConvModule(
            width,
            width,
            3,
            stride=stride,
            padding=1,
            groups=width,
            act_cfg=act_cfg,
            **common)
        self.linear_conv = ConvModule(
            width, out_channels, 1, act_cfg=None, **common)
        self.eca = ECA(eca_kernel_size) if eca_kernel_size else None

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                conv1_x: Optional[Tensor] = None,
                path: str = 'cat') -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update); h=None means h = 0.
        ``conv1_x``/``path`` do not apply: the expansion comes first."""
        out = x if self.expand_conv is None else self.expand_conv(x)
        if h is None:
            h = zeros_hidden(out, self.rla_channel)
        out = self.linear_conv(self.depthwise_conv(torch.cat([out, h], 1)))
        if self.eca is not None:
            out = self.eca(out)
        if not self.use_res_connect:
            return out, out
        total = x + out
        return total, (total if self.rla_source == 'output' else out)


@MODELS.register_module()
class RLAMobileNetV2(FreezeStagesMixin, BaseModule):
    """MobileNetV2 with recurrent layer aggregation (dsRLA-MobileNetV2).

    RLA paper App. B.2.1 and Table 3 (3.46M parameters with k = 32 and a
    1000-class head, +0.12M over MobileNetV2). See the module docstring for
    the structure. Arguments follow mmpretrain's ``MobileNetV2``.

    The authors' code builds a single depthwise recurrent conv object and
    reuses it in all five stages; the paper (and this class) has one per
    stage (``recurrent_convs.0..4``). Loading their weights fills every stage
    with their one conv, which gives identical outputs
    (``tools/model_converters/rlanet2rla_mm.py``).

    Args:
        widen_factor (float): Width multiplier. Default 1.0.
        rla_channel (int): k, channels of h. Default 32 (paper).
        with_eca (bool): Add ECA to every block (RLA-ECA-MobileNetV2), with
            kernel 1 in the groups narrower than 96 channels and 3 in the
            others, as in the authors' released weights.
        eca_kernel_sizes (Sequence[int], optional): One ECA kernel per group
            (7), overriding the rule above; implies ECA.
        rla_source (str): y of the RLA update: ``'residual'`` (default, the
            branch output, paper Fig. 3) or ``'output'`` (block output with
            the shortcut). See ``docs/rla_checkpoints.md``.
        concat_hidden (bool): Classification (Sec. 3.3 item 4): ``conv2``
            reads ``cat(x, ReLU6(BN(h)))``. Needs 7 in ``out_indices``.
        out_indices (Sequence[int]): 0..6 are the outputs of ``layer1..7``,
            7 that of ``conv2`` (1280 channels). Default (7, ).
        frozen_stages (int): -1: none; 0: the stem; i >= 1: the stem and
            ``layer1..i`` with their RLA units; a stage's recurrent conv is
            frozen once all groups of its stage are.
        conv_cfg, norm_cfg, act_cfg, norm_eval, with_cp, init_cfg: As
            mmpretrain's ``MobileNetV2``; ``norm_cfg`` builds the RLA norms
            too, ``with_cp`` checkpoints each block with its RLA update.

    Only the layers up to ``max(out_indices)`` are built, and an h update
    whose result nothing reads is not, so that every parameter receives a
    gradient (DDP without ``find_unused_parameters``).

    Example:
        >>> model = RLAMobileNetV2(out_indices=(2, 4, 6)).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 32, 8, 8), (1, 96, 4, 4), (1, 320, 2, 2)]
    """

    # expand_ratio, channels, num_blocks, stride (MobileNetV2, Table 2)
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2],
                     [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                     [6, 320, 1, 1]]
    #: RLA (resolution) stage of each group.
    group_stage = (0, 1, 2, 3, 3, 4, 4)

    def __init__(self,
                 widen_factor: float = 1.,
                 rla_channel: int = 32,
                 with_eca: bool = False,
                 eca_kernel_sizes: Optional[Sequence[int]] = None,
                 rla_source: str = 'residual',
                 concat_hidden: bool = False,
                 out_indices: Sequence[int] = (7, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        num_groups = len(self.arch_settings)
        out_indices = check_out_indices(out_indices, num_groups + 1)
        check_frozen_stages(frozen_stages, num_groups)
        check_int('rla_channel', rla_channel)
        check_choice('rla_source', rla_source, RLA_MBV2_SOURCES)
        if isinstance(widen_factor, bool) or not isinstance(
                widen_factor, (int, float)) or not widen_factor > 0:
            raise ValueError(
                f'`widen_factor` must be a number > 0, got {widen_factor!r}')
        if concat_hidden and num_groups not in out_indices:
            raise ValueError('`concat_hidden=True` feeds h to conv2, so '
                             f'`out_indices` must contain {num_groups}, got '
                             f'{out_indices}')
        if eca_kernel_sizes is None and with_eca:
            eca_kernel_sizes = tuple(1 if c < 96 else 3
                                     for _, c, _, _ in self.arch_settings)
        if eca_kernel_sizes is not None:
            eca_kernel_sizes = check_odd_kernel_sizes(
                'eca_kernel_sizes', eca_kernel_sizes, num_groups)
        self.widen_factor = widen_factor
        self.rla_channel = rla_channel
        self.eca_kernel_sizes = eca_kernel_sizes
        self.rla_source = rla_source
        self.concat_hidden = concat_hidden
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp

        in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(
            3,
            in_channels,
            3,
            stride=2,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

        # Build what the outputs need: groups up to max(out_indices), and an
        # h update only if a later block or conv2 reads its result.
        num_built = min(max(out_indices) + 1, num_groups)
        self.with_conv2 = num_groups in out_indices
        num_updates = [n for _, _, n, _ in self.arch_settings[:num_built]]
        if not concat_hidden:
            num_updates[-1] -= 1
        # One depthwise recurrent conv per resolution stage that updates h
        # (stages are contiguous from 0; only the last may make no update).
        num_stages = max((self.group_stage[g]
                          for g in range(num_built) if num_updates[g]),
                         default=-1) + 1
        self.recurrent_convs = nn.ModuleList(
            build_conv_layer(
                conv_cfg,
                rla_channel,
                rla_channel,
                3,
                padding=1,
                groups=rla_channel,
                bias=False) for _ in range(num_stages))
        self.layers = []
        for g in range(num_built):
            ratio, channels, num_blocks, stride = self.arch_settings[g]
            out_channels = make_divisible(channels * widen_factor, 8)
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    RLAInvertedResidual(
                        in_channels,
                        out_channels,
                        stride if j == 0 else 1,
                        ratio,
                        rla_channel,
                        eca_kernel_size=(eca_kernel_sizes[g]
                                         if eca_kernel_sizes else None),
                        rla_source=rla_source,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
                in_channels = out_channels
            unit = RLAUnit(
                out_channels,
                rla_channel,
                num_updates[g],
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                shared_recurrent_conv=self.recurrent_convs[
                    self.group_stage[g]]) if num_updates[g] else None
            # No split conv1 here: h joins after the expansion conv.
            self.add_module(
                f'layer{g + 1}',
                RLALayer(blocks, unit, num_updates[g], with_cp,
                         split_conv1=False))
            self.layers.append(f'layer{g + 1}')

        if self.with_conv2:
            self.out_channel = int(1280 * widen_factor) \
                if widen_factor > 1.0 else 1280
            if concat_hidden:
                self.hidden_norm = build_norm_layer(norm_cfg, rla_channel)[1]
                self.hidden_act = build_activation_layer(act_cfg)
            self.conv2 = ConvModule(
                in_channels + (rla_channel if concat_hidden else 0),
                self.out_channel,
                1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
        self._freeze_stages()

    def forward(self, x: Tensor) -> tuple:
        x = self.conv1(x)
        h = pending = None  # h_0 = 0 (Sec. 3.3)
        outs = []
        for g, name in enumerate(self.layers):
            x, h, pending = getattr(self, name)(x, h, pending)
            if g in self.out_indices:
                outs.append(x)
        if self.with_conv2:
            if self.concat_hidden:
                h, _ = apply_pending_update(pending, h, x)
                x = concat_hidden(x, h, self.hidden_norm, self.hidden_act)
            outs.append(self.conv2(x))
        return tuple(outs)

    def frozen_modules(self) -> list:
        modules = [self.conv1] if self.frozen_stages >= 0 else []
        for g in range(1, min(self.frozen_stages, len(self.layers)) + 1):
            modules.append(getattr(self, f'layer{g}'))
        for s, conv in enumerate(self.recurrent_convs):
            last_group = max(g for g in range(len(self.layers))
                             if self.group_stage[g] == s)
            if last_group + 1 <= self.frozen_stages:
                modules.append(conv)
        return modules
