"""CIFAR RLA-ResNet-110 / RLA-ResNet-164 (RLA paper: Zhao, Fang and Li,
*Recurrence along Depth: Deep Convolutional Neural Networks with Recurrent
Layer Aggregation*, NeurIPS 2021, arXiv:2110.11852; App. B.1, Tables 2, 7, 8).

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
from ..layers import (ECA, RLABasicBlock, RLABlockMixin, RLABottleneck,
                      apply_pending_update, concat_hidden, zeros_hidden)
from ..layers.rla_res_layer import RLA_SOURCES
from ..utils import check_choice, check_int
from .rla_resnet import HIDDEN_ACTS, RLAResNet


class RLAPreActBlock(RLABlockMixin, BaseModule):
    """A pre-activation RLA block: ``BN-ReLU-conv`` units on ``cat(x, h)``.

    The residual branch starts with BN-ReLU on ``cat(x, h)`` (so h = 0 is
    materialised: BN of zeros is not zero); the shortcut is x itself or a
    1x1 projection of x (no norm: mmdet's ``ResLayer`` builds conv + norm,
    the norm is dropped here). Nothing follows the addition, so
    ``rla_source='output'`` (y = x_out, the authors' ResNet code) and
    ``'residual'`` (y = branch output, the paper's text) differ only by the
    shortcut. Subclasses give their ``(kernel, stride, dilation,
    out_channels)`` units in ``units()``.

    Args: as ``RLABasicBlock`` / ``RLABottleneck`` (``style``: 'pytorch'
        strides the 3x3 conv, 'caffe' the first 1x1; ``rla_exchange=False``:
        the first unit reads x only, App. B.4's "no exchange";
        ``rla_channel=0``: the plain pre-activation block).
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
                 rla_channel: int = 4,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'output',
                 rla_exchange: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        check_int('rla_channel', rla_channel, 0)
        check_choice('rla_source', rla_source, RLA_SOURCES)
        check_choice('rla_exchange', rla_exchange, (True, False))
        check_choice('style', style, ('pytorch', 'caffe'))
        self.hidden_channels = rla_channel if rla_exchange else 0
        self.rla_source = rla_source
        self.stride = stride
        in_ch = inplanes + self.hidden_channels
        units = self.units(planes, stride, dilation, style)
        for i, (kernel, conv_stride, dil, out_ch) in enumerate(units, 1):
            name, norm = build_norm_layer(norm_cfg, in_ch, postfix=i)
            self.add_module(name, norm)
            setattr(self, f'norm{i}_name', name)
            self.add_module(f'conv{i}', build_conv_layer(
                conv_cfg, in_ch, out_ch, kernel, stride=conv_stride,
                padding=dil if kernel == 3 else 0, dilation=dil, bias=False))
            in_ch = out_ch
        self.num_units = len(units)
        self.relu = nn.ReLU(inplace=True)
        self.eca = ECA(eca_kernel_size) if eca_kernel_size else None
        # ResLayer's shortcut is [AvgPool,] conv, norm: keep the projection
        self.downsample = downsample[:-1] if downsample is not None else None

    @classmethod
    def units(cls, planes: int, stride: int, dilation: int,
              style: str) -> list:
        raise NotImplementedError

    def _norm(self, index: int) -> nn.Module:
        return getattr(self, getattr(self, f'norm{index}_name'))

    @property
    def norm1(self) -> nn.Module:
        return self._norm(1)

    @property
    def norm2(self) -> nn.Module:
        return self._norm(2)

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                conv1_x: Optional[Tensor] = None,
                path: str = 'cat') -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update); h=None means h = 0.
        ``conv1_x``/``path`` do not apply: a norm reads ``cat(x, h)``."""
        out = x
        if self.hidden_channels:
            if h is None:
                h = zeros_hidden(x, self.hidden_channels)
            out = torch.cat([x, h], dim=1)
        for i in range(1, self.num_units + 1):
            out = getattr(self, f'conv{i}')(self.relu(self._norm(i)(out)))
        if self.eca is not None:
            out = self.eca(out)
        identity = x if self.downsample is None else self.downsample(x)
        total = out + identity
        y = dict(residual=out, shortcut=identity).get(self.rla_source, total)
        return total, y


class RLAPreActBasicBlock(RLAPreActBlock):
    """Pre-activation BasicBlock with RLA (RLA-ResNet-110):
    ``BN-ReLU-conv3x3(x+k -> planes, stride) - BN-ReLU-conv3x3`` + shortcut.

    Example:
        >>> blk = RLAPreActBasicBlock(16, 16, rla_channel=4)
        >>> out, y = blk(torch.rand(1, 16, 8, 8), torch.rand(1, 4, 8, 8))
        >>> out.shape
        torch.Size([1, 16, 8, 8])
    """

    @classmethod
    def units(cls, planes, stride, dilation, style) -> list:
        return [(3, stride, dilation, planes), (3, 1, 1, planes)]


class RLAPreActBottleneck(RLAPreActBlock):
    """Pre-activation Bottleneck with RLA (RLA-ResNet-164):
    ``BN-ReLU-conv1x1(x+k -> planes) - BN-ReLU-conv3x3(stride) -
    BN-ReLU-conv1x1(-> 4 planes)`` + shortcut.

    Example:
        >>> blk = RLAPreActBottleneck(64, 16, rla_channel=12)
        >>> out, y = blk(torch.rand(1, 64, 8, 8), None)  # h = 0
        >>> out.shape, y is out
        (torch.Size([1, 64, 8, 8]), True)
    """
    expansion = 4

    @classmethod
    def units(cls, planes, stride, dilation, style) -> list:
        conv1_stride, conv2_stride = (1, stride) if style == 'pytorch' \
            else (stride, 1)
        return [(1, conv1_stride, 1, planes),
                (3, conv2_stride, dilation, planes),
                (1, 1, 1, planes * cls.expansion)]

    @property
    def norm3(self) -> nn.Module:
        return self._norm(3)


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

    #: The CIFAR ResNets' values of ``RLAResNet`` arguments (He et al.),
    #: used where the caller gives none.
    cifar_defaults = dict(
        base_channels=16,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        concat_hidden=True,
        zero_init_residual=False,
        norm_eval=False)

    def __init__(self,
                 depth: int,
                 rla_channel: Optional[int] = None,
                 preact: bool = True,
                 **kwargs) -> None:
        check_choice('depth', depth, self.arch_settings)
        kwargs = {**self.cifar_defaults, **kwargs}
        if kwargs.get('deep_stem'):
            raise ValueError('RLAResNetCIFAR has a single 3x3 stem conv: '
                             '`deep_stem` must be False')
        if preact and kwargs['zero_init_residual']:
            raise ValueError('`zero_init_residual=True` needs '
                             '`preact=False` (pre-activation units end with a '
                             'conv, not a norm)')
        if rla_channel is None:
            rla_channel = 12 if self.arch_settings[depth][0] is RLABottleneck \
                else 4
        self.preact = preact
        super().__init__(depth, rla_channel=rla_channel, **kwargs)
        num_stages, base_channels = self.num_stages, self.base_channels
        if preact and num_stages - 1 in self.out_indices:
            channels = self.block.expansion * base_channels * 2**(
                num_stages - 1) + self.extra_channels
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

    def frozen_modules(self) -> list:
        modules = super().frozen_modules()
        if self.frozen_stages == self.num_stages and hasattr(
                self, 'final_norm'):
            modules.append(self.final_norm)
        return modules

    def forward_stem(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        return x if self.preact else self.relu(self.norm1(x))

    def stage_output(self, index: int, x: Tensor, h, pending) -> Tensor:
        if index != self.num_stages - 1:
            return x
        h, _ = apply_pending_update(pending, h, x)  # y is x before final_norm
        out = F.relu(self.final_norm(x)) if self.preact else x
        if not self.concat_hidden:
            return out
        return concat_hidden(out, h, self.hidden_norm,
                             HIDDEN_ACTS.get(self.hidden_act))


@MODELS.register_module()
class PreActResNetCIFAR(RLAResNetCIFAR):
    """He et al.'s pre-activation CIFAR ResNet without RLA (the baselines of
    the RLA paper's Table 2 and App. B.4): ``RLAResNetCIFAR`` with
    ``rla_channel=0``. ``extra_channels=12`` widens every stage by 12
    output channels (planes + 3 for ResNet-164: outputs 76/140/268), the
    "channel +12" row of App. B.4 (1,925,660 parameters on CIFAR-10).

    Example:
        >>> model = PreActResNetCIFAR(164, extra_channels=12).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 268, 8, 8)]
    """

    min_rla_channel = 0

    def __init__(self, depth: int, extra_channels: int = 0, **kwargs):
        super().__init__(depth, rla_channel=0, concat_hidden=False,
                         extra_channels=extra_channels, **kwargs)
