"""RecNet(e, S1, S2, S3, d1, d2, d3) for CIFAR.

Retsinas, Elafrou, Goumas, Maragos, *RecNets: Channel-wise Recurrent
Convolutional Neural Networks*, BMVC 2019, arXiv:1905.11910; Sec. 2.2,
Table 1 (right), Tables 2-3::

    stem     3x3 conv + BN + ReLU -> S1 d1                        32 x 32
    layer1   Rec(S1 d1 -> S1 d1, d1), Rec(S1 d1 -> S2 d2, d1)     32 x 32
    layer2   max pool 2x2, Rec(S2 d2 -> S2 d2, d2),
             Rec(S2 d2 -> S3 d3, d2)                              16 x 16
    layer3   max pool 2x2, Rec(S3 d3 -> S3 d3, d3) x 2             8 x 8

Rec(C_in -> C_out, d) is a ``RecurrentModule``: CRC(S_in = C_in / d,
S_out = e S_in, d) and a transition block TB(e C_in, C_out); d_i is the
number of recurrent steps (``num_steps``) of the CRCs of pair i. Global average
pooling and the linear classifier of Table 1 are the neck and head of the
configs in ``configs/recnet``. The acronym RecNet-<depth>-<width> (Table 3)
names the presets of ``RECNET_ARCHS``: width = e max(S_i d_i); depth = 2 (d1
+ d2 + d3), the recurrent steps of the six CRCs (Sec. 3.2 says "d1 + d2 +
d3", but every row of Table 3 is twice that, e.g. 60 for d = 10, 10, 10).
"""
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.recurrent_module import RecurrentModule
from ..utils import (check_choice, check_frozen_stages, check_int,
                     check_int_sequence, check_out_indices, check_renamed)
from .base import FreezeStagesMixin

# RecNet-<depth>-<width>: (e, (S1, S2, S3), (d1, d2, d3)), Table 3 rows
RECNET_ARCHS = {
    '60-640': (4, (4, 8, 16), (10, 10, 10)),
    '90-960': (4, (4, 8, 16), (15, 15, 15)),
    '120-1280': (4, (4, 8, 16), (20, 20, 20)),
    '60-1280': (4, (8, 16, 32), (10, 10, 10)),
    '90-1920': (4, (8, 16, 32), (15, 15, 15)),
    '120-2560': (4, (8, 16, 32), (20, 20, 20)),
    '60-480': (4, (8, 8, 8), (5, 10, 15)),
    '90-640': (4, (8, 8, 8), (10, 15, 20)),
    '120-960': (4, (8, 8, 8), (10, 20, 30)),
    '60-960': (4, (16, 16, 16), (5, 10, 15)),
    '90-1280': (4, (16, 16, 16), (10, 15, 20)),
    '120-1920': (4, (16, 16, 16), (10, 20, 30)),
}


@MODELS.register_module()
class RecNet(FreezeStagesMixin, BaseModule):
    """RecNet backbone (RecNets Sec. 2.2, Table 1 right).

    Args:
        expansion (int, optional): e (S_out = e S_in in every CRC).
            Default 4 (Sec. 3.1.2).
        seg_channels (Sequence[int], optional): (S1, S2, S3), the input
            channels per segment of the three pairs. Default (8, 16, 32).
        num_steps (Sequence[int], optional): (d1, d2, d3), the segments =
            recurrent steps of the CRCs of each pair. Default (10, 10, 10),
            i.e. RecNet(4,8,16,32,10,10,10) = RecNet-60-1280.
        arch (str, optional): A Table 3 preset of ``RECNET_ARCHS`` (e.g.
            ``'60-1280'``) instead of the three arguments above.
        kernel_size_x, kernel_size_h (int): Kernels of W_x and W_h, 3 or 1
            (Sec. 3.1.3, Table 2(c)). Default 3.
        nonlinearity (str): The CRCs' sigma (Table 2(a)), default
            ``'separate_bn_relu'`` (Eq. 3), see ``CRC``.
        merged (bool): Compute every Recurrent module by Eq. 6-7 (same
            function and weights, lower peak memory). Default False.
        in_channels (int): Image channels. Default 3.
        out_indices (Sequence[int]): Stages (0: layer1, 1: layer2, 2: layer3)
            whose outputs are returned. Default (2, ).
        frozen_stages (int): -1 none, 0 the stem, i the stem and layer1..i.
        norm_cfg (dict): Every norm (stem, CRC steps, transition blocks).
        norm_eval (bool): Keep every BN in eval mode while training.
        init_cfg (dict, optional): Default None = PyTorch's default init.
        num_segments (Sequence[int], optional): Deprecated alias of
            ``num_steps``.

    Example:
        >>> net = RecNet(arch='60-640').eval()
        >>> [tuple(o.shape) for o in net(torch.rand(1, 3, 32, 32))]
        [(1, 160, 8, 8)]
    """

    def __init__(self,
                 expansion: Optional[int] = None,
                 seg_channels: Optional[Sequence[int]] = None,
                 num_steps: Optional[Sequence[int]] = None,
                 kernel_size_x: int = 3,
                 kernel_size_h: int = 3,
                 nonlinearity: str = 'separate_bn_relu',
                 merged: bool = False,
                 arch: Optional[str] = None,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (2, ),
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None,
                 num_segments: Optional[Sequence[int]] = None) -> None:
        super().__init__(init_cfg)
        num_steps = check_renamed('num_steps', num_steps, 'num_segments',
                                  num_segments)
        if arch is not None:
            check_choice('arch', arch, sorted(RECNET_ARCHS))
            if (expansion, seg_channels, num_steps) != (None, None, None):
                raise ValueError('give either `arch` or `expansion`/'
                                 '`seg_channels`/`num_steps`, not both')
            expansion, seg_channels, num_steps = RECNET_ARCHS[arch]
        expansion = check_int('expansion',
                              4 if expansion is None else expansion)
        seg = check_int_sequence('seg_channels', seg_channels or (8, 16, 32),
                                 3)
        segs = check_int_sequence('num_steps', num_steps or (10, 10, 10), 3)
        self.expansion, self.seg_channels = expansion, seg
        self.num_steps = segs
        self.out_indices = check_out_indices(out_indices, 3)
        self.frozen_stages = check_frozen_stages(frozen_stages, 3)
        self.norm_eval = norm_eval
        widths = [s * d for s, d in zip(seg, segs)]  # S_i d_i
        self.out_channels = (widths[1], widths[2], widths[2])

        self.stem = ConvModule(
            in_channels, widths[0], 3, padding=1, bias=False,
            norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))

        def rec(c_in, c_out, d):
            return RecurrentModule(
                c_in, c_out, d, expansion=expansion,
                kernel_size_x=kernel_size_x, kernel_size_h=kernel_size_h,
                nonlinearity=nonlinearity, merged=merged, norm_cfg=norm_cfg)

        self.layer1 = nn.Sequential(
            rec(widths[0], widths[0], segs[0]),
            rec(widths[0], widths[1], segs[0]))
        self.layer2 = nn.Sequential(
            rec(widths[1], widths[1], segs[1]),
            rec(widths[1], widths[2], segs[1]))
        self.layer3 = nn.Sequential(
            rec(widths[2], widths[2], segs[2]),
            rec(widths[2], widths[2], segs[2]))
        self._freeze_stages()

    def frozen_modules(self) -> List[nn.Module]:
        """The stem (stage 0) and ``layer1`` .. ``layer{frozen_stages}``."""
        if self.frozen_stages < 0:
            return []
        return [self.stem] + [getattr(self, f'layer{i}')
                              for i in range(1, self.frozen_stages + 1)]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, layer in enumerate((self.layer1, self.layer2, self.layer3)):
            if i > 0:  # the 2x2 max pooling between pairs (Table 1)
                x = F.max_pool2d(x, 2)
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
