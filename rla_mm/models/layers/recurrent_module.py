"""The Recurrent module of RecNets: a CRC followed by a transition block.

Retsinas, Elafrou, Goumas, Maragos, *RecNets: Channel-wise Recurrent
Convolutional Neural Networks*, BMVC 2019, arXiv:1905.11910; Sec. 2.2
(the module) and Sec. 2.3, Eq. 6-7 (its merged, memory-saving form)::

    Rec(x) = TB(CRC(x)),   TB = 1x1 conv (no bias) + BN + ReLU
    A CRC(x) = sum_i A_i h_i   (Eq. 7: A = [A_0 ... A_{d-1}] split by step)
"""
from typing import Optional

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from ...registry import MODELS
from ..utils import check_int, check_renamed
from .crc import CRC


@MODELS.register_module()
class RecurrentModule(BaseModule):
    """Recurrent module: a CRC then a transition block (RecNets Sec. 2.2-2.3).

    ``Rec(x) = TB(CRC(x))`` with CRC(S_in, e S_in, d) and TB(e C_in, C_out) =
    1x1 conv (no bias), BN, ReLU. With ``merged=True`` the module computes
    Eq. 6-7 instead: the 1x1 weight A = [A_0 ... A_{d-1}] is split by segment
    and ``A h = sum_i A_i h_i`` is accumulated step by step, so neither the
    e C_in-wide CRC output nor the e C_in-wide batched input term is ever
    materialised (the input term then runs per step); peak memory drops at
    the cost of d small input convolutions instead of one batched one. Both
    paths compute the same function (tested) and share one state dict.

    Args:
        in_channels (int): C_in = d S_in.
        out_channels (int): C_out of the transition block.
        num_steps (int): d, the CRC's segments = recurrent steps (required).
        expansion (int): e, S_out = e S_in. Default 4 (Sec. 3.1.2).
        kernel_size_x, kernel_size_h (int): Kernels of W_x, W_h. Default 3.
        nonlinearity (str): The CRC's sigma, see ``CRC``.
        merged (bool): Use the merged computation of Eq. 6-7. Default False.
        norm_cfg (dict): Norms of the CRC and the transition block.
        num_segments (int, optional): Deprecated alias of ``num_steps``.

    Example:
        >>> rec = RecurrentModule(80, 160, num_steps=10, expansion=4)
        >>> rec(torch.rand(2, 80, 8, 8)).shape
        torch.Size([2, 160, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_steps: Optional[int] = None,
                 expansion: int = 4,
                 kernel_size_x: int = 3,
                 kernel_size_h: int = 3,
                 nonlinearity: str = 'separate_bn_relu',
                 merged: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None,
                 num_segments: Optional[int] = None) -> None:
        super().__init__(init_cfg)
        num_steps = check_renamed('num_steps', num_steps, 'num_segments',
                                  num_segments)
        check_int('expansion', expansion)
        self.merged = merged
        self.crc = CRC(
            in_channels,
            expansion * in_channels,
            kernel_size_x,
            num_steps=num_steps,
            kernel_size_x=kernel_size_x,
            kernel_size_h=kernel_size_h,
            nonlinearity=nonlinearity,
            norm_cfg=norm_cfg)
        self.transition = ConvModule(
            expansion * in_channels,
            out_channels,
            1,
            bias=False,
            norm_cfg=norm_cfg,
            act_cfg=dict(type='ReLU'))

    def forward(self, x: Tensor) -> Tensor:
        if not self.merged:
            return self.transition(self.crc(x))
        return self._forward_merged(x)

    def _forward_merged(self, x: Tensor) -> Tensor:
        """Eq. 7: y = sum_i h_i * A_i, then the TB's BN and ReLU."""
        crc = self.crc
        n, _, height, width = x.shape
        d, s_out = crc.num_steps, crc.seg_out
        segments = x.view(n, d, crc.seg_in, height, width)
        weight = self.transition.conv.weight
        y, h = None, None
        for i in range(d):
            pre = crc.conv_x(segments[:, i])
            if h is not None:
                pre = pre + crc.recurrent_term(h)
            h = crc.step(pre, i)
            out_i = (crc.output_norm_segment(h, i)
                     if crc.nonlinearity == 'linear' else h)
            contribution = F.conv2d(out_i,
                                    weight[:, i * s_out:(i + 1) * s_out])
            # conv2d's backward does not need its output: in-place is safe
            y = contribution if y is None else y.add_(contribution)
        return self.transition.activate(self.transition.norm(y))
