"""RCNet: the CIFAR RC networks R_2^n and standard networks S_2^n.

[RC-CA] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809:
Eq. (8), Sec. 5, Tables 1, 2, 4. [RC-MC] Zhendong Zhang, Cheolkon Jung,
*Recurrent Convolutions: A Model Compression Point of View*, NeurIPS 2018
Workshop CDNNRIA: App. A, Tables 1-2::

    Conv(64)-BN-ReLU -> C_1^n(64) -> InvPool -> C_2^n(256)

Each cell C_i^n is an ``RCPreActBlock`` unrolled n steps; a 2x2 average pool
runs after step ceil(n/2) of every cell (before step 1 when n = 1); InvPool
is the invertible down-sampling of RealNVP (space-to-depth 2x2, 64 -> 256
channels, ``F.pixel_unshuffle``). With a GAP + linear head (the configs in
``configs/rc``) the parameter counts are those of Table 1.
"""
from typing import Optional, Sequence

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.rc import RCPreActBlock, pool_before_step
from ..utils import check_int
from .rc_base import BaseRCBackbone, Steps


@MODELS.register_module()
class RCNet(BaseRCBackbone):
    """R_2^n (``share_weights=True``) and S_2^n (``share_weights=False``).

    Args:
        max_steps (int, optional): n, the unrolling steps every cell is built
            for (the most steps when the steps are chosen per forward).
            Default: ``num_steps`` when that is one int, else 4.
        num_steps (int | Sequence[int], optional): The steps to run, one for
            every cell or one per cell; default ``max_steps``. Given alone it
            is n: ``RCNet(num_steps=2, share_weights=False)`` is S_2^2. With
            ``max_steps`` it is how a cost-adjustable model picks its step at
            test time (``--cfg-options model.backbone.num_steps=2``).
        share_weights (bool): Share each cell's convs over its steps (R) or
            not (S, the same graph with independent weights). Default True.
        bn_mode (str): ``'independent'`` (a BN group per step, default),
            ``'shared'`` or ``'none'`` ([RC-CA] Table 2 ablation).
        double_bn (bool): Double independent BN for cost-adjustable training
            ([RC-CA] Sec. 4.1): cell i > 1 has a BN group per (steps of cell
            i - 1, own step); cell 1 per (own step count, own step), since
            where it pools depends on its step count. Default False.
        unified_steps (bool): With ``double_bn``, build only the groups one
            unified step uses (lower triangle of Eq. 6; Sec. 4.2) instead of
            the full matrix needed for per-cell steps. Default True.
        num_cells (int): Cells; cell i has ``base_channels * 4**i`` channels.
            Default 2 (Eq. 8).
        in_channels (int): Image channels. Default 3.
        base_channels (int): Width of the stem and cell 1. Default 64; 32 is
            S_2^4 x 0.5 of Table 1.
        out_indices (Sequence[int]): Cells whose outputs are returned.
            Default: the last cell.
        frozen_stages (int): -1 none, 0 the stem, i the stem and cells 1..i.
        norm_eval (bool): Keep every BN in eval mode while training.
        conv_cfg (dict, optional), norm_cfg (dict), act_cfg (dict): Layers.
        init_cfg (dict, optional): Default None = PyTorch's default init, as
            the papers use ([RC-MC] App. B).

    Example:
        >>> s22 = RCNet(num_steps=2, share_weights=False)  # S_2^2
        >>> s22.max_steps, len(s22.cells[0].step_convs)
        (2, 2)
        >>> model = RCNet(max_steps=4).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 256, 4, 4)]
        >>> model.set_num_steps(2)
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 32, 32))]
        [(1, 256, 4, 4)]
    """

    def __init__(self,
                 max_steps: Optional[int] = None,
                 num_steps: Optional[Steps] = None,
                 share_weights: bool = True,
                 bn_mode: str = 'independent',
                 double_bn: bool = False,
                 unified_steps: bool = True,
                 num_cells: int = 2,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        check_int('num_cells', num_cells)
        max_steps = self._init_common(
            max_steps=max_steps, num_steps=num_steps, default_max_steps=4,
            num_cells=num_cells, share_weights=share_weights,
            bn_mode=bn_mode, double_bn=double_bn,
            unified_steps=unified_steps,
            out_indices=(num_cells - 1, ) if out_indices is None else
            out_indices, frozen_stages=frozen_stages, norm_eval=norm_eval,
            in_channels=in_channels, base_channels=base_channels)

        self.stem = nn.Sequential(
            build_conv_layer(conv_cfg, in_channels, base_channels, 3,
                             padding=1, bias=False),
            build_norm_layer(norm_cfg, base_channels)[1],
            build_activation_layer(act_cfg))
        self.cells = nn.ModuleList()
        for i in range(num_cells):
            self.cells.append(
                RCPreActBlock(
                    base_channels * 4**i,
                    max_steps=max_steps,
                    share_weights=share_weights,
                    bn_mode=bn_mode,
                    num_contexts=max_steps if double_bn else 1,
                    # cell 1's context is its own step count: always a triangle
                    triangular=unified_steps or i == 0,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
        self.out_channels = tuple(base_channels * 4**i
                                  for i in self.out_indices)
        self._freeze_stages()

    def stage_modules(self, index: int) -> Sequence[nn.Module]:
        return [self.cells[index - 1]]

    def _contexts(self) -> tuple:
        """The upstream step count each cell's BN groups are picked by."""
        if not self.double_bn:
            return (1, ) * self.num_cells
        return (self.cell_steps[0], ) + tuple(self.cell_steps[:-1])

    def forward(self, x: Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for i, (cell, steps, context) in enumerate(
                zip(self.cells, self.cell_steps, self._contexts())):
            if i > 0:
                if x.shape[-2] % 2 or x.shape[-1] % 2:
                    raise ValueError(
                        f'InvPool before cell {i + 1} needs an even feature '
                        f'size, got {tuple(x.shape[-2:])}: the input side '
                        f'must be a multiple of {2**(2 * self.num_cells - 2)}')
                x = F.pixel_unshuffle(x, 2)
            pool_step = pool_before_step(steps)
            for step in range(1, steps + 1):
                if step == pool_step:
                    x = F.avg_pool2d(x, 2)
                x = cell.forward_step(x, step, context)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
