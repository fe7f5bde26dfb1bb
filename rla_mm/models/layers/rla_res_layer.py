"""Residual blocks and the stage (res layer) of RLA-ResNet.

RLA paper, Sec. 3.3 and Fig. 3: each block receives ``cat(x, h)`` in its first
conv and returns the feature y that the stage's RLA unit adds to h. Which
feature y is differs between the paper's text and the authors' code (see
``rla_source``). Shapes follow mmdet's ``BasicBlock``/``Bottleneck`` (``style``,
``dilation``, ResNeXt ``groups``/``base_width``) with conv1 widened by k input
channels for h.
"""
import math
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.layers import ResLayer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .eca import ECA
from .rla_unit import RLAUnit, pool_hidden

RLA_SOURCES = ('output', 'residual')


class _RLABlock(BaseModule):
    """What RLA blocks share: ECA, the shortcut and the choice of y.

    ``rla_source`` selects the feature y passed to the RLA update:

    - ``'output'`` (default): the block output ``ReLU(residual + identity)``.
      This is what the authors' code computes: their block sets ``y = out``
      and then runs the in-place ``out += identity; out = relu(out)``, so y
      aliases the output. Every released RLA-ResNet/RLA-ECANet weight and every
      number in the paper's tables came from this behaviour.
    - ``'residual'``: the residual-branch output (after ECA when present), as
      the paper's text and Fig. 3 describe.
    """

    def _finish(self, x: Tensor, out: Tensor) -> Tuple[Tensor, Tensor]:
        if self.eca is not None:
            out = self.eca(out)
        identity = x if self.downsample is None else self.downsample(x)
        if self.rla_source == 'residual':
            return self.relu(out + identity), out
        out = self.relu(out + identity)
        return out, out


class RLABasicBlock(_RLABlock):
    """BasicBlock of RLA-ResNet-18/34: h enters the first 3x3 conv.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Output channels.
        rla_channels (int): k, channels of the hidden state h.
        eca_kernel_size (int, optional): Add ECA with this kernel if given.
        rla_source (str): 'output' (authors' code, default) or 'residual'
            (paper text); see ``_RLABlock``.
        Other args as in mmdet's ``BasicBlock``.

    Example:
        >>> blk = RLABasicBlock(64, 64, rla_channels=32)
        >>> out, y = blk(torch.rand(1, 64, 8, 8), torch.rand(1, 32, 8, 8))
        >>> out.shape, y.shape
        (torch.Size([1, 64, 8, 8]), torch.Size([1, 64, 8, 8]))
    """
    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 rla_channels: int = 32,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'output',
                 groups: int = 1,
                 base_width: int = 64,
                 base_channels: int = 64,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if groups != 1:
            raise ValueError('RLABasicBlock supports only `groups=1`')
        self.stride = stride
        self.rla_source = rla_source
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(
            conv_cfg,
            inplanes + rla_channels,
            planes,
            3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.eca = ECA(eca_kernel_size) if eca_kernel_size else None
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update)."""
        out = self.relu(self.norm1(self.conv1(torch.cat([x, h], dim=1))))
        out = self.norm2(self.conv2(out))
        return self._finish(x, out)


class RLABottleneck(_RLABlock):
    """Bottleneck of RLA-ResNet-50/101/152: h enters the first 1x1 conv.

    Args: as ``RLABasicBlock``; ``groups``/``base_width``/``base_channels``
        give the ResNeXt width ``floor(planes * base_width / base_channels) *
        groups`` when ``groups > 1`` (as mmdet's ResNeXt).

    Example:
        >>> blk = RLABottleneck(256, 64, rla_channels=32)
        >>> out, y = blk(torch.rand(1, 256, 8, 8), torch.rand(1, 32, 8, 8))
        >>> out.shape
        torch.Size([1, 256, 8, 8])
    """
    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 rla_channels: int = 32,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'output',
                 groups: int = 1,
                 base_width: int = 4,
                 base_channels: int = 64,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.stride = stride
        self.rla_source = rla_source
        width = planes if groups == 1 else math.floor(
            planes * (base_width / base_channels)) * groups
        # 'pytorch' style strides the 3x3 conv, 'caffe' the first 1x1 conv.
        conv1_stride, conv2_stride = (1, stride) if style == 'pytorch' \
            else (stride, 1)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(
            norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(
            conv_cfg,
            inplanes + rla_channels,
            width,
            1,
            stride=conv1_stride,
            bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg,
            width,
            width,
            3,
            stride=conv2_stride,
            padding=dilation,
            dilation=dilation,
            groups=groups,
            bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(
            conv_cfg, width, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.eca = ECA(eca_kernel_size) if eca_kernel_size else None
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def forward(self, x: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update)."""
        out = self.relu(self.norm1(self.conv1(torch.cat([x, h], dim=1))))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return self._finish(x, out)


class RLAResLayer(BaseModule):
    """One RLA-ResNet stage: its blocks plus the stage's shared RLA unit.

    Blocks are registered as ``0 .. num_blocks-1`` (``layer1.0.conv1`` as in
    mmdet's ResNet) and built, with their shortcut, by mmdet's ``ResLayer``;
    the RLA unit is ``rla``. ``forward(x, h)`` runs the recurrence of Eq. (11)
    over the blocks; h is average-pooled at the strided first block.

    Args:
        block (type): ``RLABasicBlock`` or ``RLABottleneck``.
        inplanes, planes, num_blocks, stride, avg_down, conv_cfg, norm_cfg:
            as mmdet's ``ResLayer``.
        rla_channels (int): k.
        update_last (bool): Whether the last block updates h. False for a
            detection backbone's last stage, where that update feeds nothing
            (and its BN would get no gradient, which breaks DDP).
        with_cp (bool): Checkpoint each block together with its RLA update
            (non-reentrant, because the RLA convs are shared across blocks).
        **block_kwargs: Passed to every block (dilation, style, eca, ...).

    Example:
        >>> layer = RLAResLayer(RLABottleneck, 64, 64, 3, rla_channels=32)
        >>> x, h = layer(torch.rand(1, 64, 16, 16), torch.zeros(1, 32, 16, 16))
        >>> x.shape, h.shape
        (torch.Size([1, 256, 16, 16]), torch.Size([1, 32, 16, 16]))
    """

    def __init__(self,
                 block: type,
                 inplanes: int,
                 planes: int,
                 num_blocks: int,
                 rla_channels: int,
                 stride: int = 1,
                 avg_down: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 update_last: bool = True,
                 with_cp: bool = False,
                 **block_kwargs) -> None:
        super().__init__()
        blocks = ResLayer(
            block,
            inplanes,
            planes,
            num_blocks,
            stride=stride,
            avg_down=avg_down,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            rla_channels=rla_channels,
            **block_kwargs)
        for i, blk in enumerate(blocks):
            self.add_module(str(i), blk)
        self.num_blocks = num_blocks
        self.with_cp = with_cp
        num_updates = num_blocks if update_last else num_blocks - 1
        self.num_updates = num_updates
        self.rla = RLAUnit(
            planes * block.expansion,
            rla_channels,
            num_updates,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg) if num_updates > 0 else None

    def __getitem__(self, index: int) -> nn.Module:
        return self._modules[str(index)]

    def __len__(self) -> int:
        return self.num_blocks

    def _step(self, x: Tensor, h: Tensor, index: int) -> Tuple[Tensor, Tensor]:
        block = self[index]
        x, y = block(x, h)
        h = pool_hidden(h, block.stride)
        if index < self.num_updates:
            h = self.rla(h, y, index)
        return x, h

    def forward(self, x: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        for i in range(self.num_blocks):
            if self.with_cp and torch.is_grad_enabled():
                x, h = checkpoint(self._step, x, h, i, use_reentrant=False)
            else:
                x, h = self._step(x, h, i)
        return x, h
