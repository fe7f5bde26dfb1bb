"""Xception and RLA-Xception for CIFAR (RLA paper: Zhao, Fang and Li,
*Recurrence along Depth: Deep Convolutional Neural Networks with Recurrent
Layer Aggregation*, NeurIPS 2021, arXiv:2110.11852; App. B.1 "RLA-Xception
for CIFAR", Table 2, the guidelines of Sec. 3.3. Xception: Chollet,
*Xception: Deep Learning with Depthwise Separable Convolutions*, CVPR 2017).

App. B.1 describes the CIFAR network only in words (its Table 9 did not
survive in the text we have, except the two stem rows "conv 3x3, 16, relu"
and "conv 3x3, 32, relu"): a *thinner* Xception with 2.7M parameters,
channels reduced and depth kept, a 3x3 first conv, three downsampling layers
removed, average instead of max pooling, and RLA stages = groups of layers at
one resolution. Our reconstruction (``docs/rla_xception.md`` has the
derivation):

- stem: conv 3x3 16 and conv 3x3 32 (BN-ReLU each, stride 1, 'same' padding);
- entry flow: three blocks of two separable convs, 64, 128, 256 wide (each
  width doubling from the stem's 16, where Chollet has 128, 256, 728);
- middle flow: 8 blocks of three separable convs at 256;
- exit flow: a block 256 -> 256 -> 512, then separable convs 512 and 512
  (Chollet: 728 -> 1024, then 1536, 2048), BN-ReLU after each;
- of Chollet's five downsamplings (the first conv's stride and the pooling of
  entry blocks 1-3 and of the exit block) the first three are removed: entry
  block 3 and the exit block downsample, with a 3x3 stride-2 *average* pool
  (``strides``), so the resolution stages are 32x32 (entry blocks 1-2),
  16x16 (entry block 3 and the middle flow), 8x8 (exit flow);
- a separable conv is Chollet's: depthwise 3x3 then pointwise 1x1, no norm
  or activation between them, BN after; every block but the first starts
  with ReLU; a strided block or one that changes width has a 1x1 (strided)
  projection shortcut with BN.

These widths give 2,701,882 parameters with a 10-way and 2,748,052 with a
100-way classifier (Table 2: 2.70M, 2.75M).

RLA (Sec. 3.3, as ``RLAResNet``): every block reads ``cat(x, h)``, which its
residual branch starts with (ReLU, then the first separable conv's depthwise
and pointwise convs see C + k channels, Fig. 3); every block updates h with
its output y (Eq. (11)); h is average-pooled where a block downsamples; the
classifier reads ``cat(x, ReLU(BN(h)))`` after the exit flow. A stage's 1x1
projection is shared by the blocks of one width (one ``RLAUnit`` per group
``layer{g}``: entry blocks 1 and 2 differ in width) and its 3x3 recurrent
conv by the whole resolution stage (``recurrent_convs.{s}``), as in
``RLAMobileNetV2``. k = 15 reproduces Table 2's totals (2.77M / 2.81M, so
"+0.07M" / "+0.06M" as differences of rounded totals; +63,915 / +65,265
exactly); k = 16 gives +0.07M on both datasets.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ..layers import (RLABlockMixin, RLALayer, RLAUnit, apply_pending_update,
                      concat_hidden, zeros_hidden)
from ..utils import (check_choice, check_concat_hidden, check_frozen_stages,
                     check_int, check_int_sequence, check_out_indices)
from .base import FreezeStagesMixin


class SeparableConv(BaseModule):
    """Chollet's separable conv: ``depthwise_conv`` (3x3, one filter per
    channel) then ``pointwise_conv`` (1x1), no norm or activation between
    them, then ``norm``. No biases (a norm follows).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        conv_cfg (dict, optional), norm_cfg (dict): Config of the convs and
            of the norm.

    Example:
        >>> conv = SeparableConv(8, 16)
        >>> conv(torch.rand(1, 8, 5, 7)).shape
        torch.Size([1, 16, 5, 7])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.depthwise_conv = build_conv_layer(
            conv_cfg, in_channels, in_channels, 3, padding=1,
            groups=in_channels, bias=False)
        self.pointwise_conv = build_conv_layer(
            conv_cfg, in_channels, out_channels, 1, bias=False)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.pointwise_conv(self.depthwise_conv(x)))


class XceptionBlock(RLABlockMixin, BaseModule):
    """An Xception block (Chollet's entry, middle or exit module) that reads
    the RLA hidden state h.

    Residual branch: ``[ReLU] - SepConv - ReLU - SepConv ... [- AvgPool 3x3
    stride 2]`` on ``cat(x, h)``; shortcut: x, or a 1x1 conv (stride) + norm
    when the block is strided or changes width. Returns ``(out, out)``: the
    block output is also the y of the RLA update (as the authors' ResNets).

    Args:
        in_channels (int): Channels of x.
        channels (Sequence[int]): Output channels of the separable convs
            (the block's output is the last).
        stride (int): 1, or 2: average pooling ends the branch and the
            shortcut conv is strided.
        start_with_relu (bool): ReLU before the first separable conv (all
            blocks but the network's first, whose input is the stem's ReLU).
        rla_channel (int): k, channels of h; 0: the plain block (no h).
        conv_cfg (dict, optional), norm_cfg (dict): Config of convs, norms.

    Example:
        >>> blk = XceptionBlock(32, (64, 64), stride=2, rla_channel=4)
        >>> out, y = blk(torch.rand(1, 32, 9, 9), torch.rand(1, 4, 9, 9))
        >>> out.shape, y is out
        (torch.Size([1, 64, 5, 5]), True)
    """

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int],
                 stride: int = 1,
                 start_with_relu: bool = True,
                 rla_channel: int = 0,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        check_int('in_channels', in_channels)
        channels = check_int_sequence('channels', channels)
        if not channels:
            raise ValueError('`channels` must hold at least one width, got ()')
        check_choice('stride', stride, (1, 2))
        check_choice('start_with_relu', start_with_relu, (True, False))
        check_int('rla_channel', rla_channel, 0)
        self.stride = stride
        self.start_with_relu = start_with_relu
        self.rla_channel = rla_channel
        widths = (in_channels + rla_channel, ) + channels
        self.convs = nn.ModuleList(
            SeparableConv(widths[i], widths[i + 1], conv_cfg, norm_cfg)
            for i in range(len(channels)))
        out_channels = channels[-1]
        self.pool = nn.AvgPool2d(3, stride, 1, count_include_pad=False) \
            if stride > 1 else None
        self.shortcut = None
        if stride > 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, out_channels, 1,
                                 stride=stride, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self,
                x: Tensor,
                h: Optional[Tensor] = None,
                conv1_x: Optional[Tensor] = None,
                path: str = 'cat') -> Tuple[Tensor, Tensor]:
        """Return (block output, y = the same tensor); h=None means h = 0.
        ``conv1_x``/``path`` do not apply: a ReLU and a depthwise conv read
        ``cat(x, h)`` before any 1x1 conv."""
        out = x
        if self.rla_channel:
            if h is None:
                h = zeros_hidden(x, self.rla_channel)
            out = torch.cat([x, h], dim=1)
        for i, conv in enumerate(self.convs):
            if i or self.start_with_relu:
                out = F.relu(out, inplace=out is not x)  # x feeds the skip
            out = conv(out)
        if self.pool is not None:
            out = self.pool(out)
        out = out + (x if self.shortcut is None else self.shortcut(x))
        return out, out


@MODELS.register_module()
class RLAXceptionCIFAR(FreezeStagesMixin, BaseModule):
    """The thin CIFAR Xception of the RLA paper (App. B.1, Table 2), with
    recurrent layer aggregation; ``rla_channel=0`` is the plain network
    (``XceptionCIFAR``). See the module docstring for the structure.

    Args:
        rla_channel (int): k, channels of h. Default 15 (the value that gives
            Table 2's counts); 0: no RLA.
        stem_channels (Sequence[int]): The two stem convs. Default (16, 32).
        entry_channels (Sequence[int]): The three entry blocks; the last is
            also the middle flow's width. Default (64, 128, 256).
        num_middle_blocks (int): Middle-flow blocks. Default 8.
        exit_channels (Sequence[int]): The exit block's output and the two
            separable convs after it. Default (512, 512, 512).
        strides (Sequence[int]): Strides (1 or 2) of the three entry blocks
            and the exit block. Default (1, 1, 2, 2). Every stride-2 block
            but the first starts a new resolution stage.
        in_channels (int): Image channels. Default 3.
        out_indices (Sequence[int], optional): Resolution stages to return
            (0 .. num_stages - 1); the last stage's output is taken after
            the exit flow's separable convs. Default: the last stage.
        concat_hidden (bool): Classification (Sec. 3.3 item 4): the last
            output is ``cat(x, ReLU(BN(h)))``, 512 + k channels. Needs the
            last stage in ``out_indices``. Default True. False (detection):
            the last update, which nothing would read, is not built, and
            only the stages up to ``max(out_indices)`` are; every parameter
            then receives a gradient (DDP without unused parameters).
        frozen_stages (int): -1: none; 0: the stem; s >= 1: the stem and
            resolution stages 0..s-1 with their RLA units and recurrent
            convs (s = num_stages: the exit convs and ``hidden_norm`` too).
        conv_cfg, norm_cfg: Config of every conv and norm (the RLA norms
            too). norm_eval (bool): BNs in eval mode while training.
        with_cp (bool): Checkpoint each block with its RLA update.

    Example:
        >>> model = RLAXceptionCIFAR(out_indices=(0, 1, 2)).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 128, 32, 32), (1, 256, 16, 16), (1, 527, 8, 8)]
    """

    def __init__(self,
                 rla_channel: int = 15,
                 stem_channels: Sequence[int] = (16, 32),
                 entry_channels: Sequence[int] = (64, 128, 256),
                 num_middle_blocks: int = 8,
                 exit_channels: Sequence[int] = (512, 512, 512),
                 strides: Sequence[int] = (1, 1, 2, 2),
                 in_channels: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 concat_hidden: bool = True,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1,
                          layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        check_int('rla_channel', rla_channel, 0)
        stem_channels = check_int_sequence('stem_channels', stem_channels, 2)
        entry_channels = check_int_sequence('entry_channels', entry_channels,
                                            3)
        check_int('num_middle_blocks', num_middle_blocks, 0)
        exit_channels = check_int_sequence('exit_channels', exit_channels, 3)
        strides = check_int_sequence('strides', strides, 4)
        if any(s > 2 for s in strides):
            raise ValueError(f'`strides` must be 4 values in (1, 2), got '
                             f'{strides!r}')
        check_int('in_channels', in_channels)
        check_choice('concat_hidden', concat_hidden, (True, False))
        check_choice('norm_eval', norm_eval, (True, False))
        # (in_channels, separable conv widths, stride) of every block
        mid = entry_channels[-1]
        specs = [(stem_channels[1], (entry_channels[0], ) * 2, strides[0])]
        specs += [(entry_channels[i - 1], (entry_channels[i], ) * 2,
                   strides[i]) for i in (1, 2)]
        specs += [(mid, (mid, ) * 3, 1)] * num_middle_blocks
        specs += [(mid, (mid, exit_channels[0]), strides[3])]
        stages = [0]  # resolution stage of each block
        for _, _, stride in specs[1:]:
            stages.append(stages[-1] + (stride > 1))
        self.num_stages = stages[-1] + 1
        if out_indices is None:
            out_indices = (self.num_stages - 1, )
        out_indices = check_out_indices(out_indices, self.num_stages)
        check_frozen_stages(frozen_stages, self.num_stages)
        check_concat_hidden(concat_hidden, rla_channel, out_indices,
                            self.num_stages)
        self.rla_channel = rla_channel
        self.concat_hidden = concat_hidden
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(in_channels, stem_channels[0], 3, padding=1,
                                **common)
        self.conv2 = ConvModule(stem_channels[0], stem_channels[1], 3,
                                padding=1, **common)
        # Build what the outputs need: the stages up to max(out_indices),
        # and an h update only if a later block or the classifier reads it.
        num_built = stages.index(max(out_indices) + 1) \
            if max(out_indices) + 1 < self.num_stages else len(specs)
        num_updates = (num_built if concat_hidden else num_built - 1) \
            if rla_channel else 0
        # groups: consecutive blocks of one stage and one width
        groups = []
        for i in range(num_built):
            if not groups or stages[i] != stages[groups[-1][-1]] or \
                    specs[i][1][-1] != specs[i - 1][1][-1]:
                groups.append([])
            groups[-1].append(i)
        self.recurrent_convs = nn.ModuleList(
            build_conv_layer(conv_cfg, rla_channel, rla_channel, 3,
                             padding=1, bias=False)
            for _ in range(stages[num_updates - 1] + 1 if num_updates else 0))
        self.layers, self.layer_stages = [], []
        for g, group in enumerate(groups):
            blocks = [
                XceptionBlock(*specs[i], start_with_relu=i > 0,
                              rla_channel=rla_channel, **common)
                for i in group
            ]
            n = sum(i < num_updates for i in group)
            unit = RLAUnit(
                specs[group[0]][1][-1], rla_channel, n, **common,
                shared_recurrent_conv=self.recurrent_convs[stages[group[0]]]
            ) if n else None
            # No split conv1: h enters a ReLU and a depthwise conv first.
            self.add_module(f'layer{g + 1}',
                            RLALayer(blocks, unit, n, with_cp,
                                     split_conv1=False))
            self.layers.append(f'layer{g + 1}')
            self.layer_stages.append(stages[group[0]])
        self.exit_convs = None
        self.hidden_norm = None
        if self.num_stages - 1 in out_indices:
            self.exit_convs = nn.ModuleList(
                SeparableConv(exit_channels[i], exit_channels[i + 1], **common)
                for i in (0, 1))
            if concat_hidden:
                self.hidden_norm = build_norm_layer(norm_cfg, rla_channel)[1]
        self._freeze_stages()

    def forward(self, x: Tensor) -> tuple:
        x = self.conv2(self.conv1(x))
        state = pending = None  # h_0 = 0 (Sec. 3.3)
        outs = []
        for g, name in enumerate(self.layers):
            x, state, pending = getattr(self, name)(x, state, pending)
            stage = self.layer_stages[g]
            last_of_stage = g + 1 == len(self.layers) or \
                self.layer_stages[g + 1] != stage
            if last_of_stage and stage in self.out_indices:
                outs.append(self.stage_output(stage, x, state, pending))
        return tuple(outs)

    def stage_output(self, stage: int, x: Tensor, state, pending) -> Tensor:
        """What ``stage`` returns: x; after the exit flow's separable convs
        for the last stage, with ``cat(., ReLU(BN(h)))`` for
        ``concat_hidden``."""
        if stage != self.num_stages - 1:
            return x
        state, _ = apply_pending_update(pending, state, x)  # y: x here
        for conv in self.exit_convs:
            x = F.relu(conv(x), inplace=True)
        if not self.concat_hidden:
            return x
        return concat_hidden(x, state, self.hidden_norm, F.relu)

    def frozen_modules(self) -> list:
        frozen = self.frozen_stages
        modules = [self.conv1, self.conv2] if frozen >= 0 else []
        modules += [getattr(self, name) for name, s in
                    zip(self.layers, self.layer_stages) if s < frozen]
        modules += [c for s, c in enumerate(self.recurrent_convs)
                    if s < frozen]
        if frozen == self.num_stages:
            modules += [m for m in (self.exit_convs, self.hidden_norm)
                        if m is not None]
        return modules


@MODELS.register_module()
class XceptionCIFAR(RLAXceptionCIFAR):
    """The plain thin CIFAR Xception, the baseline of Table 2's Xception rows
    (2.70M parameters with a 10-way classifier): ``RLAXceptionCIFAR`` with
    ``rla_channel=0``. Arguments as ``RLAXceptionCIFAR`` except
    ``rla_channel`` and ``concat_hidden`` (no h).

    Example:
        >>> model = XceptionCIFAR().eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 512, 8, 8)]
    """

    def __init__(self, **kwargs) -> None:
        for name in ('rla_channel', 'concat_hidden'):
            if name in kwargs:
                raise ValueError(f'XceptionCIFAR has no RLA: `{name}` is not '
                                 'an argument (use RLAXceptionCIFAR)')
        super().__init__(rla_channel=0, concat_hidden=False, **kwargs)
