"""CIFAR RLA-ResNet-110 / RLA-ResNet-164 (RLA paper App. B.1, Tables 2, 7, 8).

CIFAR ResNets (He et al.): a 3x3 stem conv without max-pool, three stages of
16/32/64 (BasicBlock, ResNet-110: 18 blocks each) or 16/32/64-wide Bottlenecks
(ResNet-164: 18 blocks each, outputs 64/128/256), strides 1/2/2, global
pooling. RLA is added per stage exactly as in ``RLAResNet`` (Sec. 3.3): h
enters each block's first conv, one shared 1x1 and one shared 3x3 conv per
stage, one BN per block, and for classification ``cat(x, ReLU(BN(h)))``.

The paper's CIFAR baselines are the *pre-activation* ResNets of He et al.
(ECCV 2016): Table 2's "Original" errors (6.37 for ResNet-110, 5.46 for
ResNet-164) are that paper's, and App. B.4 speaks of "the pre-activated
ResNet-164". ``preact=True`` (default) builds those (BN-ReLU-conv units, a
plain 1x1 projection shortcut, a final BN-ReLU); ``preact=False`` builds the
post-activation variant from rla_mm's ``RLABasicBlock``/``RLABottleneck``.

k: 12 for ResNet-164, the paper's DenseNet growth rate. For ResNet-110 the
paper's value was lost in the text we have ("we apply an RLA module with k=?
(instead of 12)", since ResNet-110 has a quarter of ResNet-164's channels);
k = 4 is the value that reproduces Table 2's +0.07M (k = 3 gives +0.06M,
k = 12 +0.22M). See ``docs/rla_checkpoints.md``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ..layers import ECA, RLABasicBlock, RLABottleneck
from .rla_resnet import RLAResNet


class _RLAPreActBlock(BaseModule):
    """What the pre-activation RLA blocks share: norms, shortcut, y.

    The residual branch starts with BN-ReLU on ``cat(x, h)``; the shortcut is
    x itself or a 1x1 projection of x (no norm: mmdet's ``ResLayer`` builds
    conv + norm, the norm is dropped here). Nothing follows the addition, so
    ``rla_source='output'`` (y = x_out, the authors' ResNet code) and
    ``'residual'`` (y = branch output, the paper's text) differ only by the
    shortcut.
    """

    def _init_common(self, downsample, rla_source, eca_kernel_size) -> None:
        self.rla_source = rla_source
        self.relu = nn.ReLU(inplace=True)
        self.eca = ECA(eca_kernel_size) if eca_kernel_size else None
        # ResLayer's shortcut is [AvgPool,] conv, norm: keep the projection
        self.downsample = downsample[:-1] if downsample is not None else None

    def _norm(self, index: int) -> nn.Module:
        return getattr(self, getattr(self, f'norm{index}_name'))

    @property
    def norm1(self) -> nn.Module:
        return self._norm(1)

    @property
    def norm2(self) -> nn.Module:
        return self._norm(2)

    def _finish(self, x: Tensor, out: Tensor) -> Tuple[Tensor, Tensor]:
        if self.eca is not None:
            out = self.eca(out)
        identity = x if self.downsample is None else self.downsample(x)
        total = out + identity
        return total, (out if self.rla_source == 'residual' else total)


class RLAPreActBasicBlock(_RLAPreActBlock):
    """Pre-activation BasicBlock with RLA (RLA-ResNet-110).

    ``BN-ReLU-conv3x3(x+k -> planes, stride) - BN-ReLU-conv3x3`` + shortcut.
    Args as ``RLABasicBlock``.

    Example:
        >>> blk = RLAPreActBasicBlock(16, 16, rla_channels=4)
        >>> out, y = blk(torch.rand(1, 16, 8, 8), torch.rand(1, 4, 8, 8))
        >>> out.shape
        torch.Size([1, 16, 8, 8])
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
                 rla_channels: int = 4,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'output',
                 groups: int = 1,
                 base_width: int = 64,
                 base_channels: int = 64,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if groups != 1:
            raise ValueError('RLAPreActBasicBlock supports only `groups=1`')
        self.stride = stride
        self.norm1_name, norm1 = build_norm_layer(
            norm_cfg, inplanes + rla_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes + rla_channels, planes, 3, stride=stride,
            padding=dilation, dilation=dilation, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.conv2 = build_conv_layer(
            conv_cfg, planes, planes, 3, padding=1, bias=False)
        self._init_common(downsample, rla_source, eca_kernel_size)

    def forward(self, x: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update)."""
        out = self.conv1(self.relu(self.norm1(torch.cat([x, h], dim=1))))
        out = self.conv2(self.relu(self.norm2(out)))
        return self._finish(x, out)


class RLAPreActBottleneck(_RLAPreActBlock):
    """Pre-activation Bottleneck with RLA (RLA-ResNet-164).

    ``BN-ReLU-conv1x1(x+k -> planes) - BN-ReLU-conv3x3(stride) -
    BN-ReLU-conv1x1(-> 4 planes)`` + shortcut ('pytorch' style strides the
    3x3 conv, 'caffe' the first 1x1). Args as ``RLABottleneck``.

    Example:
        >>> blk = RLAPreActBottleneck(64, 16, rla_channels=12)
        >>> out, y = blk(torch.rand(1, 64, 8, 8), torch.rand(1, 12, 8, 8))
        >>> out.shape
        torch.Size([1, 64, 8, 8])
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
                 rla_channels: int = 12,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'output',
                 groups: int = 1,
                 base_width: int = 4,
                 base_channels: int = 64,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if groups != 1:
            raise ValueError('RLAPreActBottleneck supports only `groups=1`')
        self.stride = stride
        conv1_stride, conv2_stride = (1, stride) if style == 'pytorch' \
            else (stride, 1)
        self.norm1_name, norm1 = build_norm_layer(
            norm_cfg, inplanes + rla_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes + rla_channels, planes, 1, stride=conv1_stride,
            bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.conv2 = build_conv_layer(
            conv_cfg, planes, planes, 3, stride=conv2_stride,
            padding=dilation, dilation=dilation, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.conv3 = build_conv_layer(
            conv_cfg, planes, planes * self.expansion, 1, bias=False)
        self._init_common(downsample, rla_source, eca_kernel_size)

    @property
    def norm3(self) -> nn.Module:
        return self._norm(3)

    def forward(self, x: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update)."""
        out = self.conv1(self.relu(self.norm1(torch.cat([x, h], dim=1))))
        out = self.conv2(self.relu(self.norm2(out)))
        out = self.conv3(self.relu(self.norm3(out)))
        return self._finish(x, out)


_PREACT = {RLABasicBlock: RLAPreActBasicBlock,
           RLABottleneck: RLAPreActBottleneck}


@MODELS.register_module()
class RLAResNetCIFAR(RLAResNet):
    """RLA-ResNet for 32x32 inputs (RLA-ResNet-110/164, App. B.1, Table 2).

    Args:
        depth (int): 6n + 2 with BasicBlocks (20, 32, 44, 56, 110) or 9n + 2
            with Bottlenecks (164).
        rla_channel (int, optional): k. Default: 12 for Bottleneck depths
            (the paper's ResNet-164 value), 4 for BasicBlock depths (our
            reading of the paper's ResNet-110, see the module docstring).
        preact (bool): Pre-activation units (default, the paper's CIFAR
            baselines) or post-activation ones.
        base_channels (int): Width of the first stage. Default 16.
        num_stages, strides, dilations: Default 3, (1, 2, 2), (1, 1, 1).
        out_indices (Sequence[int]): Default (2, ).
        concat_hidden (bool): Default True (classification).
        zero_init_residual (bool): Default False (the paper uses He init);
            post-activation only.
        Others: as ``RLAResNet``. ``frozen_stages=0`` freezes the stem conv.

    Example:
        >>> model = RLAResNetCIFAR(164).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 268, 8, 8)]
    """

    arch_settings = {
        20: (RLABasicBlock, (3, 3, 3)),
        32: (RLABasicBlock, (5, 5, 5)),
        44: (RLABasicBlock, (7, 7, 7)),
        56: (RLABasicBlock, (9, 9, 9)),
        110: (RLABasicBlock, (18, 18, 18)),
        164: (RLABottleneck, (18, 18, 18)),
    }

    def __init__(self,
                 depth: int,
                 rla_channel: Optional[int] = None,
                 preact: bool = True,
                 base_channels: int = 16,
                 num_stages: int = 3,
                 strides=(1, 2, 2),
                 dilations=(1, 1, 1),
                 out_indices=(2, ),
                 concat_hidden: bool = True,
                 zero_init_residual: bool = False,
                 deep_stem: bool = False,
                 **kwargs) -> None:
        if depth not in self.arch_settings:
            raise KeyError(f'invalid `depth` {depth!r} for RLAResNetCIFAR, '
                           f'allowed: {tuple(self.arch_settings)}')
        if deep_stem:
            raise ValueError('RLAResNetCIFAR has a single 3x3 stem conv: '
                             '`deep_stem` must be False')
        if preact and zero_init_residual:
            raise ValueError('`zero_init_residual=True` needs '
                             '`preact=False` (pre-activation units end with a '
                             'conv, not a norm)')
        if rla_channel is None:
            rla_channel = 12 if self.arch_settings[depth][0] is RLABottleneck \
                else 4
        self.preact = preact
        super().__init__(
            depth,
            rla_channel=rla_channel,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            concat_hidden=concat_hidden,
            zero_init_residual=zero_init_residual,
            deep_stem=False,
            **kwargs)
        if preact and num_stages - 1 in self.out_indices:
            channels = self.block.expansion * base_channels * 2**(
                num_stages - 1)
            self.final_norm = build_norm_layer(self.norm_cfg, channels)[1]
            self._freeze_stages()  # again: final_norm did not exist before

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, 3, padding=1,
            bias=False)
        if not self.preact:
            self.norm1_name, norm1 = build_norm_layer(
                self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()

    def make_res_layer(self, block, **kwargs):
        if self.preact:
            block = _PREACT[block]
        return super().make_res_layer(block=block, **kwargs)

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen.append(self.conv1)
            if not self.preact:
                frozen.append(self.norm1)
        for i in range(1, self.frozen_stages + 1):
            frozen.append(getattr(self, f'layer{i}'))
        if self.frozen_stages == self.num_stages and hasattr(
                self, 'final_norm'):
            frozen.append(self.final_norm)
        for m in frozen:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def forward(self, x: Tensor) -> tuple:
        x = self.conv1(x)
        if not self.preact:
            x = self.relu(self.norm1(x))
        h = x.new_zeros((x.shape[0], self.rla_channel) + tuple(x.shape[2:]))
        outs = []
        last = self.num_stages - 1
        for i, layer_name in enumerate(self.res_layers):
            x, h = getattr(self, layer_name)(x, h)
            if i in self.out_indices:
                out = x
                if i == last and self.preact:
                    out = F.relu(self.final_norm(out))
                if i == last and self.concat_hidden:
                    out = torch.cat([out, F.relu(self.hidden_norm(h))], dim=1)
                outs.append(out)
        return tuple(outs)
