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

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from ...registry import MODELS
from ..layers import (RLA_SOURCES, RLA_UPDATES, RLABasicBlock, RLABottleneck,
                      RLAResLayer, apply_pending_update, check_split_conv1,
                      concat_hidden, rla_cell_class)
from ..utils import (check_choice, check_concat_hidden, check_int,
                     check_odd_kernel_sizes)
from .base import ResNetBackbone

#: The head activation of ``cat(x, act(BN(h)))``: ReLU (the authors'
#: released models) or tanh (their ``resnet_rla_v1.py``).
HIDDEN_ACTS = dict(relu=F.relu, tanh=torch.tanh)


def check_rla_options(rla_channel: int, rla_cell: str, rla_update: str,
                      rla_shared: bool, rla_exchange: bool,
                      hidden_act: Optional[str], concat_hidden: bool,
                      min_rla_channel: int = 1):
    """Check the ablation options of an RLA backbone (Sec. 4.4, Table 11,
    App. B.4) with named errors; return the head activation's name (None:
    the cell has no head norm, the head reads ``cat(x, h)``)."""
    check_int('rla_channel', rla_channel, min_rla_channel)
    cell = rla_cell_class(rla_cell)
    check_choice('rla_update', rla_update, cell.updates)
    check_choice('rla_shared', rla_shared, (True, False))
    if not rla_shared and not cell.unsharable:
        raise ValueError(f'`rla_shared=False` (Table 11 (b)) is defined for '
                         f"the 'rnn' and 'postact' cells, got "
                         f'rla_cell={rla_cell!r}')
    check_choice('rla_exchange', rla_exchange, (True, False))
    if not (rla_exchange or concat_hidden):
        raise ValueError('`rla_exchange=False` keeps h out of the main CNN, '
                         'so only the classifier reads it: it needs '
                         '`concat_hidden=True`')
    if hidden_act is None:
        return 'relu' if cell.head_norm else None
    if not cell.head_norm:
        raise ValueError(f'rla_cell={rla_cell!r} has no head norm (the '
                         'classifier reads cat(x, h)): `hidden_act` must be '
                         f'None, got {hidden_act!r}')
    return check_choice('hidden_act', hidden_act, tuple(HIDDEN_ACTS))


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
        rla_cell (str): The recurrent cell, one of ``RLA_CELLS``: ``'rnn'``
            (default, Eq. (11)), or the ablation cells ``'postact'``,
            ``'convlstm'``, ``'convgru'`` (Table 11 (d), (e); ``rla_cells.py``).
        rla_update (str): ``'pre'`` (default, Eq. (11)) or ``'post'``: W1 y
            is added after the recurrent conv (Fig. 4, v2/v4/v6).
        rla_shared (bool): One W1 and one W3 per stage (default); False: one
            per block (Table 11 (b), the authors' ``resnet_rla_us.py``, which
            also uses ``rla_source='residual'``).
        rla_exchange (bool): h enters each block's conv1 (default); False:
            only the classifier reads h (Table 11 (c)).
        hidden_act (str, optional): The head activation of ``cat(x,
            act(BN(h)))``: ``'relu'`` (default for ``'rnn'``, the released
            models) or ``'tanh'`` (the authors' ``resnet_rla_v1.py``); must be
            None for the cells without head norm.
        extra_channels (int): Widen every stage's output by this many
            channels (planes + extra / expansion); with ``rla_channel=0``
            Table 11 (a), "channels increased by 32" (``WidenedResNet``,
            the one place where k = 0, no RLA, is allowed).
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

    #: 0 only in the subclasses that are the plain networks of the ablation
    #: (``WidenedResNet``, ``PreActResNetCIFAR``): k = 0 is "no RLA".
    min_rla_channel = 1
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
                 rla_cell: str = 'rnn',
                 rla_update: str = 'pre',
                 rla_shared: bool = True,
                 rla_exchange: bool = True,
                 hidden_act: Optional[str] = None,
                 extra_channels: int = 0,
                 split_conv1: Union[bool, str] = 'auto',
                 groups: int = 1,
                 base_width: int = 4,
                 **kwargs) -> None:
        check_choice('depth', depth, self.arch_settings)
        hidden_act = check_rla_options(rla_channel, rla_cell, rla_update,
                                       rla_shared, rla_exchange, hidden_act,
                                       concat_hidden, self.min_rla_channel)
        check_choice('rla_source', rla_source, RLA_SOURCES)
        expansion = self.arch_settings[depth][0].expansion
        check_int('extra_channels', extra_channels, 0)
        if extra_channels % expansion:
            raise ValueError(f'`extra_channels` must be a multiple of the '
                             f'block expansion {expansion}, got '
                             f'{extra_channels}')
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
        self.extra_channels = extra_channels
        self.hidden_act = hidden_act
        # mmdet's ResNet.__init__ builds the stages through make_res_layer(),
        # which can only read them from self: what every stage gets.
        self.stage_cfg = dict(
            rla_channel=rla_channel, rla_source=rla_source,
            rla_cell=rla_cell, rla_update=rla_update, rla_shared=rla_shared,
            rla_exchange=rla_exchange, split_conv1=split_conv1)
        self.groups = groups  # as mmdet's ResNeXt
        self.base_width = base_width
        super().__init__(depth, **kwargs)
        check_concat_hidden(concat_hidden, rla_channel, self.out_indices,
                            num_stages)
        self.feat_dim += extra_channels
        self.hidden_norm = None
        if concat_hidden:
            if hidden_act is not None:
                self.hidden_norm = build_norm_layer(self.norm_cfg,
                                                    rla_channel)[1]
            self.feat_dim += rla_channel

    def make_res_layer(self, block, init_cfg, **kwargs) -> RLAResLayer:
        """Build stage ``len(self.res_layers)`` (called by ResNet.__init__)."""
        stage = len(self.res_layers)
        if self.extra_channels:  # Table 11 (a): planes + extra / expansion
            kwargs['planes'] += self.extra_channels // block.expansion
            if stage > 0:  # mmdet's ResNet knows only the unwidened width
                kwargs['inplanes'] += self.extra_channels
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
        return concat_hidden(x, h, self.hidden_norm,
                             HIDDEN_ACTS.get(self.hidden_act))

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


@MODELS.register_module()
class WidenedResNet(RLAResNet):
    """ResNet with every stage ``extra_channels`` wider and no RLA: Table 11
    (a), "channels increased by 32", the authors' ``resnet_k.py`` (planes +
    32 / 4 = 8 for Bottlenecks: widths 72/136/264/520, outputs
    288/544/1056/2080; 26,794,280 parameters with the 1000-way FC).
    ``RLAResNet`` with ``rla_channel=0``; mmdet ResNet's key names.

    Example:
        >>> model = WidenedResNet(50, out_indices=(3, ))
        >>> model.layer1[0].conv1.weight.shape
        torch.Size([72, 64, 1, 1])
    """

    min_rla_channel = 0

    def __init__(self, depth: int, extra_channels: int = 32, **kwargs):
        super().__init__(depth, rla_channel=0, extra_channels=extra_channels,
                         **kwargs)
