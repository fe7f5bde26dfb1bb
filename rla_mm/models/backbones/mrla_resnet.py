"""MRLA-light ResNet (Fang, Cai, Chen, Zhao, Tian, Li: "Cross-Layer
Retrospective Retrieving via Layer Attention", ICLR 2023, arXiv:2302.03985,
Sec. 3 Eq. (8); Sec. 4 for the ImageNet and COCO settings).

mmdet's ``ResNet`` with one MRLA-light brick (:class:`MRLALight`) after
``ReLU(f + shortcut)`` of every block, each stage's first block included,
the stem excluded. A block is mmdet's ``Bottleneck``/``BasicBlock`` plus the
brick; the stages are mmdet's ``ResLayer``; stem, freezing, ``norm_eval``,
``with_cp``, DCN/plugins and init are mmdet's ``ResNet`` and rla_mm's
``ResNetFreezeMixin``.
"""
from typing import Optional, Tuple, Union

from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.layers import ResLayer
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ...registry import MODELS
from ..layers.bottleneck import bottleneck_branch
from ..layers.mrla import MRLA_RECURRENCES, MRLALight
from ..utils import check_choice, check_int
from .base import ResNetBackbone


class _MRLABlockMixin:
    """An mmdet block followed by the MRLA-light brick on its output.

    ``forward(x, carried=None)`` returns ``(out, o)``: ``out`` the block
    output ``y + DropPath(norm(o))`` with ``y = ReLU(f(x) + shortcut)``, and
    ``o`` = O^t. O^{t-1} is the block's shortcut when ``carried`` is None
    (the authors' code), else ``carried`` (the previous block's O, Eq. 8),
    passed through this block's shortcut conv (and pooling, with
    ``avg_down``) when the block changes width or resolution. The
    shortcut's norm is not applied to O: O gets the brick's own norm after
    the sum, and sharing the shortcut BN would mix O's statistics into it.
    """

    #: attribute name of the residual branch's last norm (zero-initialised)
    last_norm: str

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 mrla_head_dim: int = 32,
                 drop_path_rate: float = 0.,
                 lambda_init: Union[str, float] = 'normal',
                 **kwargs) -> None:
        super().__init__(inplanes, planes, **kwargs)
        self.mrla = MRLALight(
            planes * self.expansion,
            head_dim=mrla_head_dim,
            drop_path_rate=drop_path_rate,
            norm_cfg=kwargs.get('norm_cfg', dict(type='BN')),
            lambda_init=lambda_init)

    def residual(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(f(x) before the addition, shortcut)."""
        raise NotImplementedError

    def project(self, carried: Tensor) -> Tensor:
        """The previous block's O in this block's shape."""
        if self.downsample is None:
            return carried
        for layer in list(self.downsample)[:-1]:  # all but the norm
            carried = layer(carried)
        return carried

    def forward(self,
                x: Tensor,
                carried: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:

        def _inner_forward(x, carried):
            out, shortcut = self.residual(x)
            y = self.relu(out + shortcut)
            prev = shortcut if carried is None else self.project(carried)
            return self.mrla(y, prev)

        if self.with_cp and x.requires_grad:
            return checkpoint(_inner_forward, x, carried, use_reentrant=False)
        return _inner_forward(x, carried)


class MRLABasicBlock(_MRLABlockMixin, BasicBlock):
    """mmdet's ``BasicBlock`` + MRLA-light after ``ReLU(f + shortcut)``.

    Not in the authors' code: the brick sits where it sits in their
    Bottleneck, on the block output (C = planes: 64..512 for ResNet-18/34,
    2..16 heads of 32 channels).
    """

    last_norm = 'norm2'

    def residual(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out, shortcut


class MRLABottleneck(_MRLABlockMixin, Bottleneck):
    """mmdet's ``Bottleneck`` + MRLA-light: the authors' ``MRLA_Bottleneck``
    (stride on the 3x3 conv with ``style='pytorch'``)."""

    last_norm = 'norm3'

    def residual(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        out = bottleneck_branch(self, self.conv1(x))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out, shortcut


@MODELS.register_module()
class MRLAResNet(ResNetBackbone):
    """ResNet with MRLA-light in every block (MRLA-light ResNet-18..152).

    Args:
        depth (int): 50, 101, 152 (the authors' Bottleneck) or 18, 34
            (``MRLABasicBlock``, this project's placement).
        mrla_head_dim (int): Channels per head d (the authors: 32). It must
            divide every stage's width; narrow models need a smaller d
            (base_channels=16 with BasicBlocks: widths 16..128, d <= 16).
            There is no silent clamping: a wrong d raises ``ValueError``.
        recurrence (str): What stands for O^{t-1}. ``'shortcut'`` (default):
            the block's shortcut, as the authors' code, which produced their
            numbers and is the only one that matches their checkpoints.
            ``'carried'``: Eq. (8) as written, O carried from block to block
            (the first block of the network starts from its shortcut).
        drop_path_rate (float): DropPath on the MRLA branch of every block.
            Default 0 (detection, as the authors); their ImageNet models use
            0.2 (set in the classification configs).
        lambda_init (str | float): ``'normal'`` (N(0, 1), the authors) or a
            constant for every lambda.
        norm_eval (bool, optional): Keep every BN (the MRLA norms included)
            in eval mode while training. None (default): True when built in
            mmdet's scope (mmdet's ``ResNet`` default), else False; see
            ``resolve_norm_eval``. The configs set it explicitly.
        Others: as mmdet's ``ResNet`` (``in_channels, stem_channels,
            base_channels, num_stages, strides, dilations, out_indices, style,
            deep_stem, avg_down, frozen_stages, conv_cfg, norm_cfg, dcn,
            stage_with_dcn, plugins, with_cp, zero_init_residual, init_cfg``).
            ``frozen_stages=n`` freezes the stem and stages 1..n with their
            MRLA parameters; ``norm_cfg`` also builds the MRLA norms (SyncBN,
            GN); ``with_cp`` checkpoints each block with its brick; with
            dilation, V keeps dilation 1 (the authors' code).

    Example:
        >>> model = MRLAResNet(depth=18, out_indices=(0, 1, 2, 3))
        >>> outs = model(torch.rand(1, 3, 97, 131))
        >>> [tuple(o.shape) for o in outs]
        [(1, 64, 25, 33), (1, 128, 13, 17), (1, 256, 7, 9), (1, 512, 4, 5)]
    """

    arch_settings = {
        18: (MRLABasicBlock, (2, 2, 2, 2)),
        34: (MRLABasicBlock, (3, 4, 6, 3)),
        50: (MRLABottleneck, (3, 4, 6, 3)),
        101: (MRLABottleneck, (3, 4, 23, 3)),
        152: (MRLABottleneck, (3, 8, 36, 3))
    }

    def __init__(self,
                 depth: int,
                 mrla_head_dim: int = 32,
                 recurrence: str = 'shortcut',
                 drop_path_rate: float = 0.,
                 lambda_init: Union[str, float] = 'normal',
                 **kwargs) -> None:
        check_choice('depth', depth, self.arch_settings)
        check_choice('recurrence', recurrence, MRLA_RECURRENCES)
        check_int('mrla_head_dim', mrla_head_dim)
        block = self.arch_settings[depth][0]
        base_channels = check_int('base_channels',
                                  kwargs.get('base_channels', 64))
        num_stages = check_int('num_stages', kwargs.get('num_stages', 4), 1,
                               4)
        widths = [base_channels * 2**i * block.expansion
                  for i in range(num_stages)]
        if any(w % mrla_head_dim for w in widths):
            raise ValueError(
                f'`mrla_head_dim` must divide every stage width {widths} '
                f'(a head is mrla_head_dim channels), got {mrla_head_dim}: '
                f'use a divisor of {widths[0]}')
        # read by make_res_layer(), which ResNet.__init__ calls
        self.mrla_head_dim = mrla_head_dim
        self.recurrence = recurrence
        self.drop_path_rate = drop_path_rate
        self.lambda_init = lambda_init
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        """One stage of MRLA blocks (called by ``ResNet.__init__``)."""
        kwargs['init_cfg'] = self.block_init_cfg(kwargs['block'])
        return ResLayer(
            mrla_head_dim=self.mrla_head_dim,
            drop_path_rate=self.drop_path_rate,
            lambda_init=self.lambda_init,
            **kwargs)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.forward_stem(x)
        outs, carried = [], None
        for i, layer_name in enumerate(self.res_layers):
            for block in getattr(self, layer_name):
                x, o = block(x, carried)
                if self.recurrence == 'carried':
                    carried = o
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
