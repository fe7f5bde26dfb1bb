"""Residual blocks and the stage (res layer) of RLA-ResNet.

RLA paper, Sec. 3.3 and Fig. 3: each block receives ``cat(x, h)`` in its first
conv and returns the feature y that the stage's RLA unit adds to h. Which
feature y is differs between the paper's text and the authors' code (see
``rla_source``). Shapes follow mmdet's ``BasicBlock``/``Bottleneck`` (``style``,
``dilation``, ResNeXt ``groups``/``base_width``) with conv1 widened by k input
channels for h.

How it is computed (same maths as ``tests/reference_rla.py``; see
``docs/speed.md`` for what each choice buys; the conv1 bricks are in
``rla_conv1.py``):

- ``h = None`` stands for the zero state of the first block (Sec. 3.3,
  h_0 = 0): its conv1 then runs on x with the x part of the weight, which is
  exactly what conv1 gives on ``cat(x, 0)``.
- The residual addition and the h update run in place where autograd allows
  it (the authors' block does the same), which changes no bit of the result.
- ``split_conv1`` computes ``conv1(cat(x, h))`` as ``conv1_x(x) +
  conv1_h(h)`` from the two slices of the stored weight, without building the
  concatenation; with ``rla_source='output'`` the stage also computes the RLA
  projection ``conv_out(y)`` in one GEMM with the next block's ``conv1_x(y)``
  (both read y), its last block with the next stage's first block when the
  backbone hands that block over (``forward``'s ``next_block``). The sums run
  in another order, so results differ from the
  concatenation in the last bits of float precision (compared with the
  reference in float64 by the tests). ``'auto'`` (default) uses it for CPU
  tensors, where ``tools/analysis_tools/benchmark.py`` showed it pays, and
  keeps the concatenation (the authors' op order) elsewhere, where it has not
  been measured yet.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.layers import ResLayer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .eca import ECA
from .rla_conv1 import (check_split_conv1, conv_on_cat, conv_with_weight,
                        is_plain_conv, uses_split_conv1, zeros_hidden)
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

    #: Compute conv1 on (x, h) without concatenating them: True, False or
    #: 'auto' (on CPU tensors only); see the module docstring.
    split_conv1 = 'auto'
    #: Keep x and h, not cat(x, h), for conv1's backward (``conv_on_cat``).
    recompute_cat = True

    def _conv1(self, x: Tensor, h: Optional[Tensor],
               x_part: Optional[Tensor] = None) -> Tensor:
        """``conv1(cat(x, h))``; h=None means h = 0.

        ``x_part``: ``conv1_x(x)`` (bias included) if the caller computed it.
        """
        conv = self.conv1
        if not is_plain_conv(conv):  # e.g. weight standardisation: as is
            if h is None:
                h = zeros_hidden(x, conv.in_channels - x.shape[1])
            return conv_on_cat(conv, x, h, self.recompute_cat)
        if h is not None and not uses_split_conv1(self.split_conv1, x):
            return conv_on_cat(conv, x, h, self.recompute_cat)
        c = x.shape[1]
        if x_part is None:
            x_part = conv_with_weight(conv, x, conv.weight[:, :c], conv.bias)
        if h is None:
            return x_part
        return conv_with_weight(conv, h, conv.weight[:, c:], None).add_(x_part)

    def _finish(self, x: Tensor, out: Tensor) -> Tuple[Tensor, Tensor]:
        if self.eca is not None:
            out = self.eca(out)
        identity = x if self.downsample is None else self.downsample(x)
        if self.rla_source == 'residual':
            return self.relu(out + identity), out
        # In place like mmdet's Bottleneck: out is the fresh output of a norm
        # (or ECA / a fused conv), whose backward does not read it.
        out += identity
        out = self.relu(out)
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
        split_conv1 (bool | str): Compute conv1 on x and h separately instead
            of on their concatenation; 'auto' (default): on CPU tensors only
            (module docstring).
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
                 split_conv1: Union[bool, str] = 'auto',
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if groups != 1:
            raise ValueError('RLABasicBlock supports only `groups=1`')
        self.stride = stride
        self.rla_source = rla_source
        self.split_conv1 = split_conv1
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

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                x_part: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update); h=None means h = 0,
        ``x_part`` is ``conv1_x(x)`` if already computed."""
        out = self.relu(self.norm1(self._conv1(x, h, x_part)))
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
                 split_conv1: Union[bool, str] = 'auto',
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.stride = stride
        self.rla_source = rla_source
        self.split_conv1 = split_conv1
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

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                x_part: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update); h=None means h = 0,
        ``x_part`` is ``conv1_x(x)`` if already computed."""
        out = self.relu(self.norm1(self._conv1(x, h, x_part)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return self._finish(x, out)


class RLAResLayer(BaseModule):
    """One RLA-ResNet stage: its blocks plus the stage's shared RLA unit.

    Blocks are registered as ``0 .. num_blocks-1`` (``layer1.0.conv1`` as in
    mmdet's ResNet) and built, with their shortcut, by mmdet's ``ResLayer``;
    the RLA unit is ``rla``. ``forward(x, h)`` runs the recurrence of Eq. (11)
    over the blocks; h is average-pooled at the strided first block. ``h=None``
    means h = 0 (the first stage of a network); the returned h is None only
    if the stage made no update.

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
        split_conv1 (bool | str): Compute each block's conv1 on x and h
            separately (no concatenation) and, with ``rla_source='output'``,
            share one GEMM between ``conv_out(y)`` and the next block's
            ``conv1_x(y)``. Same maths, other rounding; 'auto' (default) on
            CPU tensors only. See the module docstring.
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
                 split_conv1: Union[bool, str] = 'auto',
                 **block_kwargs) -> None:
        super().__init__()
        check_split_conv1(split_conv1)
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
            if isinstance(blk, _RLABlock):
                blk.split_conv1 = split_conv1
                # checkpointing already drops what the block saves
                blk.recompute_cat = not with_cp
            self.add_module(str(i), blk)
        self.num_blocks = num_blocks
        self.rla_channels = rla_channels
        self.with_cp = with_cp
        self.split_conv1 = split_conv1
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

    def _block(self, index: int, x: Tensor, h: Optional[Tensor],
               x_part: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        block = self[index]
        if not isinstance(block, _RLABlock):  # e.g. pre-activation blocks
            if h is None:
                h = zeros_hidden(x, self.rla_channels)
            return block(x, h)
        if x_part is None:
            return block(x, h)
        return block(x, h, x_part)

    def _step(self, x: Tensor, h: Optional[Tensor],
              index: int) -> Tuple[Tensor, Optional[Tensor]]:
        x, y = self._block(index, x, h)
        h = pool_hidden(h, self[index].stride)
        if index < self.num_updates:
            h = self.rla(h, y, index)
        return x, h

    def _next_block(self, index: int,
                    next_block: Optional[nn.Module]) -> Optional[nn.Module]:
        """The block after ``index``: in this stage, else ``next_block``."""
        return self[index + 1] if index + 1 < self.num_blocks else next_block

    def _shares_gemm(self, index: int, y: Tensor,
                     next_block: Optional[nn.Module] = None) -> bool:
        """Whether block ``index``'s RLA projection can share one GEMM with
        the next block's conv1 (the next stage's first block after the last
        one, if given): both are 1x1 stride-1 convs of the same y."""
        nxt = self._next_block(index, next_block)
        if nxt is None or not uses_split_conv1(self.split_conv1, y):
            return False
        block = self[index]
        conv, proj = getattr(nxt, 'conv1', None), self.rla.conv_out
        return (isinstance(block, _RLABlock) and isinstance(nxt, _RLABlock)
                and block.rla_source == 'output'
                and uses_split_conv1(nxt.split_conv1, y)
                and is_plain_conv(conv) and is_plain_conv(proj)
                and all(c.kernel_size == (1, 1) and c.stride == (1, 1)
                        and c.padding == (0, 0) and c.groups == 1
                        for c in (conv, proj)))

    def _shared_gemm(self, y: Tensor,
                     nxt: nn.Module) -> Tuple[Tensor, Tensor]:
        """(block ``nxt``'s ``conv1_x(y)``, ``conv_out(y)``) from one conv."""
        conv, proj = nxt.conv1, self.rla.conv_out
        weight = torch.cat([conv.weight[:, :y.shape[1]], proj.weight])
        bias = None
        if conv.bias is not None or proj.bias is not None:
            bias = torch.cat([
                b if b is not None else weight.new_zeros(c.out_channels)
                for b, c in ((conv.bias, conv), (proj.bias, proj))
            ])
        out = F.conv2d(y, weight, bias)
        x_part, projected_y = out.split(
            [conv.out_channels, proj.out_channels], dim=1)
        return x_part, projected_y

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                x_part: Optional[Tensor] = None,
                next_block: Optional[nn.Module] = None) -> tuple:
        """Run the stage: ``(x, h)``, or ``(x, h, next_x_part)`` when
        ``next_block`` is given.

        ``x_part`` is the first block's ``conv1_x(x)`` if the previous stage
        computed it; ``next_block`` is the next stage's first block, with
        whose conv1 this stage's last RLA projection may then share a GEMM
        (``split_conv1``); ``next_x_part`` is that block's ``conv1_x`` of
        the returned x, or None if the GEMM was not shared.
        """
        if self.with_cp and torch.is_grad_enabled():
            for i in range(self.num_blocks):  # conv1 recomputed: no x_part
                x, h = checkpoint(self._step, x, h, i, use_reentrant=False)
            return (x, h) if next_block is None else (x, h, None)
        for i in range(self.num_blocks):
            x, y = self._block(i, x, h, x_part)
            h = pool_hidden(h, self[i].stride)
            x_part = None
            if i >= self.num_updates:
                continue
            if self._shares_gemm(i, y, next_block):
                x_part, projected_y = self._shared_gemm(
                    y, self._next_block(i, next_block))
                h = self.rla.update(h, projected_y, i, owns_projection=False)
            else:
                h = self.rla(h, y, i)
        return (x, h) if next_block is None else (x, h, x_part)
