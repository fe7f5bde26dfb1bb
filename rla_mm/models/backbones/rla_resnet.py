"""RLA-ResNet and RLA-ECANet (RLA paper: Zhao, Fang and Li, *Recurrence along
Depth: Deep Convolutional Neural Networks with Recurrent Layer Aggregation*,
NeurIPS 2021, arXiv:2110.11852; Sec. 3.3, Sec. 4.2, App. B.2, Table 10).

mmdet's ``ResNet`` with RLA blocks and stages (``rla_res_layer.py``), the way
mmdet's ``ResNeXt`` is a ResNet with other blocks: the stem, ``frozen_stages``,
``norm_eval``, ``with_cp``, DCN, plugins and init are mmdet's. The hidden state
h (k = ``rla_channel`` channels) starts as h_0 = 0 at the stem output's
resolution and runs through all stages (``rla.py``).
"""
from typing import Optional, Sequence, Union

import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from ...registry import MODELS
from ..layers import (RLA_SOURCES, RLABasicBlock, RLABottleneck, RLAResLayer,
                      apply_pending_update, check_split_conv1, concat_hidden)
from ..utils import check_choice, check_int, check_odd_kernel_sizes
from .base import ResNetBackbone


@MODELS.register_module()
class RLAResNet(ResNetBackbone):
    """ResNet with recurrent layer aggregation (RLA-ResNet-18/34/50/101/152).

    Per stage one shared 1x1 conv (stage channels -> k), one shared 3x3
    recurrent conv (k -> k) and one BN per block update h as in Eq. (11); each
    block reads ``cat(x, h)`` in its first conv (Fig. 3).

    Args:
        depth (int): 18, 34 (BasicBlock; h enters the first 3x3 conv), 50, 101
            or 152 (Bottleneck; h enters conv1).
        rla_channel (int): k, channels of the hidden state. Default 32
            (paper: DenseNet's growth rate on ImageNet).
        eca_kernel_sizes (Sequence[int], optional): One ECA kernel per stage;
            ECA then follows the last BN of every residual branch (RLA-ECANet).
        rla_source (str): Which feature updates h. ``'output'`` (default) is
            the authors' code, ``h <- g(BN(h + conv1x1(ReLU(residual +
            identity))))``, which produced their released weights and the
            paper's numbers; ``'residual'`` uses the residual branch as the
            paper's text describes. See ``RLAResBlockMixin``.
        concat_hidden (bool): If True (classification, Sec. 3.3 item 4), the
            last stage's output is ``cat(x, ReLU(BN(h)))`` with 2048 + k
            channels for depth >= 50. If False (detection) stage outputs are
            returned as they are, and the last stage's final h update, which
            would feed nothing, is not built.
        split_conv1 (bool | str): Compute each block's conv1 on x and h
            separately instead of on ``cat(x, h)``, sharing one GEMM between
            an RLA projection and the conv1 that reads the same tensor (see
            ``RLALayer``): same maths and state dict, other float rounding.
            ``'auto'`` (default): on CPU tensors, where it was measured
            faster (docs/speed.md); elsewhere (not measured yet) the
            concatenation, the authors' op order. True / False force either.
        norm_eval (bool, optional): Keep BNs (RLA's included) in eval mode
            while training. None (default): True when built in mmdet's scope
            (mmdet's ``ResNet`` default: detection batches are small), False
            otherwise (classification); see ``resolve_norm_eval``.
        groups (int), base_width (int): ResNeXt-style grouped 3x3 convs.
        dcn (dict, optional), stage_with_dcn (Sequence[bool]), plugins (list,
            optional): as mmdet's ``ResNet`` (DCN on the 3x3 conv, plugins
            after conv1/2/3), Bottleneck depths only as in mmdet.
        **kwargs: mmdet's ``ResNet`` arguments (``in_channels, stem_channels,
            base_channels, num_stages, strides, dilations, out_indices, style,
            deep_stem, avg_down, frozen_stages, conv_cfg, norm_cfg, with_cp,
            zero_init_residual, init_cfg``), checked by ``ResNetBackbone``
            (``norm_eval``, ``dcn``, ``plugins`` above).
            ``frozen_stages=n`` freezes the stem and stages 1..n including
            their RLA convs and BNs; ``norm_cfg`` builds the RLA BNs too
            (SyncBN, GN); ``with_cp`` checkpoints each block with its RLA
            update.

    Example:
        >>> model = RLAResNet(depth=18, out_indices=(0, 1, 2, 3))
        >>> outs = model(torch.rand(1, 3, 97, 131))
        >>> [tuple(o.shape) for o in outs]
        [(1, 64, 25, 33), (1, 128, 13, 17), (1, 256, 7, 9), (1, 512, 4, 5)]
    """

    arch_settings = {
        18: (RLABasicBlock, (2, 2, 2, 2)),
        34: (RLABasicBlock, (3, 4, 6, 3)),
        50: (RLABottleneck, (3, 4, 6, 3)),
        101: (RLABottleneck, (3, 4, 23, 3)),
        152: (RLABottleneck, (3, 8, 36, 3))
    }

    def __init__(self,
                 depth: int,
                 rla_channel: int = 32,
                 eca_kernel_sizes: Optional[Sequence[int]] = None,
                 rla_source: str = 'output',
                 concat_hidden: bool = False,
                 split_conv1: Union[bool, str] = 'auto',
                 groups: int = 1,
                 base_width: int = 4,
                 **kwargs) -> None:
        check_choice('depth', depth, self.arch_settings)
        check_int('rla_channel', rla_channel)
        check_choice('rla_source', rla_source, RLA_SOURCES)
        check_split_conv1(split_conv1)
        check_int('groups', groups)
        num_stages = check_int('num_stages', kwargs.get('num_stages', 4), 1,
                               4)
        if eca_kernel_sizes is not None:
            eca_kernel_sizes = check_odd_kernel_sizes(
                'eca_kernel_sizes', eca_kernel_sizes, num_stages)
        if groups != 1 and self.arch_settings[depth][0].expansion == 1:
            raise ValueError(f'`groups` > 1 (ResNeXt) needs a Bottleneck '
                             f'depth (50, 101, 152), got depth={depth}')
        self.rla_channel = rla_channel
        self.concat_hidden = concat_hidden
        self.eca_kernel_sizes = eca_kernel_sizes
        # mmdet's ResNet.__init__ builds the stages through make_res_layer(),
        # which can only read them from self: what every stage gets.
        self.stage_cfg = dict(
            rla_channel=rla_channel,
            rla_source=rla_source,
            split_conv1=split_conv1)
        self.groups = groups  # as mmdet's ResNeXt
        self.base_width = base_width
        super().__init__(depth, **kwargs)
        if concat_hidden and num_stages - 1 not in self.out_indices:
            raise ValueError('`concat_hidden=True` concatenates h to the last '
                             f'stage, so `out_indices` must contain '
                             f'{num_stages - 1}, got {self.out_indices}')
        if concat_hidden:
            self.hidden_norm = build_norm_layer(self.norm_cfg, rla_channel)[1]
            self.feat_dim += rla_channel

    def make_res_layer(self, block, init_cfg, **kwargs) -> RLAResLayer:
        """Build stage ``len(self.res_layers)`` (called by ResNet.__init__)."""
        stage = len(self.res_layers)
        if issubclass(block, RLABottleneck):
            kwargs.update(groups=self.groups, base_width=self.base_width,
                          base_channels=self.base_channels)
        for option in ('dcn', 'plugins'):  # mmdet's, passed only when used
            if kwargs.get(option) is None:
                kwargs.pop(option, None)
        return RLAResLayer(
            block=block,
            update_last=self.concat_hidden or stage < self.num_stages - 1,
            eca_kernel_size=(self.eca_kernel_sizes[stage]
                             if self.eca_kernel_sizes else None),
            init_cfg=self.block_init_cfg(block),
            **self.stage_cfg,
            **kwargs)

    def stage_output(self, index: int, x: Tensor, h, pending) -> Tensor:
        """What stage ``index`` (in ``out_indices``) returns: x, or for the
        last stage with ``concat_hidden`` ``cat(x, ReLU(BN(h)))``."""
        if not (self.concat_hidden and index == self.num_stages - 1):
            return x
        h, _ = apply_pending_update(pending, h, x)
        return concat_hidden(x, h, self.hidden_norm, F.relu)

    def forward(self, x: Tensor) -> tuple:
        x = self.forward_stem(x)
        h = pending = None  # h_0 = 0 (Sec. 3.3)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x, h, pending = getattr(self, layer_name)(x, h, pending)
            if i in self.out_indices:
                outs.append(self.stage_output(i, x, h, pending))
        return tuple(outs)


@MODELS.register_module()
class RLAECAResNet(RLAResNet):
    """RLA-ECANet: RLA-ResNet with ECA after the last BN of each block.

    Same as ``RLAResNet`` with ``eca_kernel_sizes=(5, 5, 5, 7)`` by default,
    the per-stage ECA kernels of the authors' released RLA-ECANet weights.
    The ECA output is what the RLA 1x1 conv reads (paper Sec. 4.2) when
    ``rla_source='residual'``.
    """

    def __init__(self,
                 depth: int,
                 eca_kernel_sizes: Sequence[int] = (5, 5, 5, 7),
                 **kwargs) -> None:
        super().__init__(depth, eca_kernel_sizes=eca_kernel_sizes, **kwargs)
