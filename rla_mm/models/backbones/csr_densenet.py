"""CIFAR DenseNet (Huang et al.) with CSR-Convs: the CSR-Conv paper's
DenseNet-40.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.1, Table 2 (DenseNet-40 on CIFAR-10, 1.06M plain). The
backbone is the CIFAR DenseNet of Huang, Liu, van der Maaten, Weinberger,
*Densely Connected Convolutional Networks*, CVPR 2017, Sec. 3-4, not the BC
form: a 3x3 stem conv to 2k channels, three dense blocks of (depth - 4) / 3
BN-ReLU-conv3x3 layers (c -> k = ``growth_rate``, each output concatenated
to its input), BN-ReLU-conv1x1 (c -> c) + 2x2 average pooling transitions,
and a final BN-ReLU. DenseNet-40 with k = 12 has 24 -> 168 -> 312 -> 456
channels and, with a 456 -> 10 linear head, 1,059,298 parameters (the
paper's 1.06M; DenseNet-BC-40 would have 176,122).

The paper gives only T, #C-C and the totals of its five CSR rows; which convs
were converted is not published, and no simple rule gives the totals (see
``docs/csr_conv.md``). ``csr_layout`` maps conv names to T as in
``CSRMobileNetV2``: dense layer j of block b is ``stages.{b}.{j}`` (its conv
``stages.{b}.{j}.conv``), transition b is ``transitions.{b}.0``. The
``'table2-*'`` presets are our closest layouts of the form "the last n_b
dense convs of block b" at the row's T and #C-C.
"""
from typing import Dict, Optional, Sequence

import torch
from mmcv.cnn import (ConvModule, build_activation_layer, build_conv_layer,
                      build_norm_layer)
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.csr_conv import CSR_CELLS
from ..layers.csr_layout import (CSR_INIT_CFG, apply_csr_layout,
                                 count_csr_convs)
from ..utils import (check_choice, check_frozen_stages, check_int,
                     check_out_indices)
from .base import FreezeStagesMixin


class DenseLayer(ConvModule):
    """H_l of a dense block (Huang et al. Sec. 3): BN-ReLU-conv3x3 whose k
    output channels are concatenated to its input."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, super().forward(x)], 1)


def last_dense_convs(counts: Sequence[int], num_steps: int,
                     layers_per_block: int = 12) -> Dict[str, int]:
    """A layout converting the last ``counts[b]`` dense convs of block b."""
    return {f'stages.{b}.{j}': num_steps
            for b, count in enumerate(counts)
            for j in range(layers_per_block - count, layers_per_block)}


# our closest layouts to Table 2's DenseNet-40 rows: the last n_b dense
# convs of block b at the row's T, with sum(n_b) = the row's #C-C and n_b
# fitted to its total (docs/csr_conv.md); not the authors' (unpublished) ones
DENSENET40_LAYOUTS = {
    'table2-csr-conv-1': last_dense_convs((12, 7, 0), 2),
    'table2-csr-conv-2': last_dense_convs((0, 5, 6), 3),
    'table2-csr-conv-3': last_dense_convs((10, 0, 12), 3),
    'table2-csr-conv-4': last_dense_convs((5, 7, 11), 4),
    'table2-csr-conv-5': last_dense_convs((10, 12, 12), 5),
}


@MODELS.register_module()
class CSRDenseNet(FreezeStagesMixin, BaseModule):
    """CIFAR DenseNet (Huang et al., not BC) whose chosen convs are
    CSR-Convs (CSR-Conv paper Table 2, DenseNet-40).

    Args:
        depth (int): 3 n + 4 layers, n per dense block. Default 40.
        growth_rate (int): k. Default 12.
        stem_channels (int, optional): Output of the stem conv; default 2 k.
        csr_layout (str | dict, optional): A key of ``csr_layouts`` or
            ``{conv name or fnmatch pattern: T}`` (see the module docstring);
            None (default): the plain DenseNet.
        csr_cell (str): ``'ode'`` (default, the authors' released cell) or
            ``'rnn'`` (Eq. 2), ``'gru'``, ``'lstm'``.
        in_channels (int): Image channels. Default 3.
        out_indices (Sequence[int]): Blocks (0-2) whose outputs (after their
            transition, or the final BN-ReLU) are returned. Default (2, ).
        frozen_stages (int): -1: none; 0: the stem; i: the stem and the
            first i blocks with their transitions.
        conv_cfg, norm_cfg, act_cfg (dict): Builders of every conv / norm /
            activation.
        norm_eval (bool): Keep every BN in eval mode while training.
        init_cfg: ``CSR_INIT_CFG``: convs Kaiming (fan-out, as Huang et
            al.), BN 1 / 0, the cells their own init.

    Example:
        >>> net = CSRDenseNet(40, csr_layout='table2-csr-conv-2').eval()
        >>> net.num_csr_convs(), net(torch.rand(1, 3, 32, 32))[0].shape
        (11, torch.Size([1, 456, 8, 8]))
    """

    csr_layouts = DENSENET40_LAYOUTS

    def __init__(self,
                 depth: int = 40,
                 growth_rate: int = 12,
                 stem_channels: Optional[int] = None,
                 csr_layout=None,
                 csr_cell: str = 'ode',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (2, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 norm_eval: bool = False,
                 init_cfg=CSR_INIT_CFG) -> None:
        super().__init__(init_cfg)
        check_int('depth', depth, 7)
        if (depth - 4) % 3:
            raise ValueError(f'`depth` must be 3 n + 4 (n layers per dense '
                             f'block, e.g. 40), got {depth}')
        check_int('growth_rate', growth_rate)
        check_choice('csr_cell', csr_cell, CSR_CELLS)
        self.out_indices = check_out_indices(out_indices, 3)
        self.frozen_stages = check_frozen_stages(frozen_stages, 3)
        self.norm_eval = norm_eval
        self.depth, self.growth_rate = depth, growth_rate
        channels = check_int('stem_channels', stem_channels or 2 * growth_rate)
        self.stem = build_conv_layer(conv_cfg, in_channels, channels, 3,
                                     padding=1, bias=False)
        pre_act = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                       bias=False, order=('norm', 'act', 'conv'))
        self.stages, self.transitions = nn.ModuleList(), nn.ModuleList()
        for b in range(3):
            layers = []
            for _ in range((depth - 4) // 3):
                layers.append(DenseLayer(channels, growth_rate, 3, padding=1,
                                         **pre_act))
                channels += growth_rate
            self.stages.append(nn.Sequential(*layers))
            self.transitions.append(nn.Sequential(
                ConvModule(channels, channels, 1, **pre_act),
                nn.AvgPool2d(2)) if b < 2 else nn.Sequential(
                    build_norm_layer(norm_cfg, channels)[1],
                    build_activation_layer(act_cfg)))
        self.out_channels = channels
        self.csr_layout = apply_csr_layout(self, csr_layout, csr_cell,
                                           self.csr_layouts)
        self.csr_cell = csr_cell
        self._freeze_stages()

    def frozen_modules(self) -> list:
        """The stem (``frozen_stages >= 0``) and blocks 1..frozen_stages with
        their transitions."""
        modules = [self.stem] if self.frozen_stages >= 0 else []
        for b in range(self.frozen_stages):
            modules += [self.stages[b], self.transitions[b]]
        return modules

    def forward(self, x: Tensor) -> tuple:
        x, outs = self.stem(x), []
        for b in range(3):
            x = self.transitions[b](self.stages[b](x))
            if b in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def num_csr_convs(self) -> int:
        """#C-C of Table 2: the number of CSR-Conv layers."""
        return count_csr_convs(self)
