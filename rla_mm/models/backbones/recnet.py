"""RecNet(e, S1, S2, S3, d1, d2, d3) for CIFAR (RecNets Sec. 2.2, Table 1
right, Tables 2-3).

::

    stem     3x3 conv + BN + ReLU -> S1 d1                        32 x 32
    layer1   Rec(S1 d1 -> S1 d1, d1), Rec(S1 d1 -> S2 d2, d1)     32 x 32
    layer2   max pool 2x2, Rec(S2 d2 -> S2 d2, d2),
             Rec(S2 d2 -> S3 d3, d2)                              16 x 16
    layer3   max pool 2x2, Rec(S3 d3 -> S3 d3, d3) x 2             8 x 8

Rec(C_in -> C_out, d) is a ``RecurrentModule``: CRC(S_in = C_in / d,
S_out = e S_in, d) and a transition block TB(e C_in, C_out). Global average
pooling and the linear classifier of Table 1 are the neck and head of the
configs in ``configs/recnet``. The acronym RecNet-<depth>-<width> (Table 3)
names the presets of ``RECNET_ARCHS``: width = e max(S_i d_i); depth = 2 (d1
+ d2 + d3), the recurrent steps of the six CRCs (Sec. 3.2 says "d1 + d2 +
d3", but every row of Table 3 is twice that, e.g. 60 for d = 10, 10, 10).
"""
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from ..layers.crc import RecurrentModule

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


def _check_triple(name: str, value) -> Tuple[int, int, int]:
    value = tuple(value)
    if len(value) != 3 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1
            for v in value):
        raise ValueError(f'`{name}` must be three positive ints, got {value}')
    return value


@MODELS.register_module()
class RecNet(BaseModule):
    """RecNet backbone (RecNets Sec. 2.2, Table 1 right).

    Args:
        expansion (int, optional): e (S_out = e S_in in every CRC).
            Default 4 (Sec. 3.1.2).
        seg_channels (Sequence[int], optional): (S1, S2, S3), the input
            channels per segment of the three pairs. Default (8, 16, 32).
        num_segments (Sequence[int], optional): (d1, d2, d3). Default
            (10, 10, 10), i.e. RecNet(4,8,16,32,10,10,10) = RecNet-60-1280.
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

    Example:
        >>> net = RecNet(arch='60-640').eval()
        >>> [tuple(o.shape) for o in net(torch.rand(1, 3, 32, 32))]
        [(1, 160, 8, 8)]
    """

    def __init__(self,
                 expansion: Optional[int] = None,
                 seg_channels: Optional[Sequence[int]] = None,
                 num_segments: Optional[Sequence[int]] = None,
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
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if arch is not None:
            if arch not in RECNET_ARCHS:
                raise KeyError(f'`arch` must be one of {sorted(RECNET_ARCHS)}'
                               f', got {arch!r}')
            if (expansion, seg_channels, num_segments) != (None, None, None):
                raise ValueError('give either `arch` or `expansion`/'
                                 '`seg_channels`/`num_segments`, not both')
            expansion, seg_channels, num_segments = RECNET_ARCHS[arch]
        expansion = 4 if expansion is None else expansion
        seg = _check_triple('seg_channels', seg_channels or (8, 16, 32))
        segs = _check_triple('num_segments', num_segments or (10, 10, 10))
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in (0, 1, 2) for i in out_indices):
            raise ValueError(f'`out_indices` must be a non-empty subset of '
                             f'(0, 1, 2), got {out_indices}')
        if frozen_stages not in (-1, 0, 1, 2, 3):
            raise ValueError(f'`frozen_stages` must be in -1..3, got '
                             f'{frozen_stages!r}')
        self.expansion, self.seg_channels = expansion, seg
        self.num_segments = segs
        self.out_indices, self.frozen_stages = out_indices, frozen_stages
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

    def _freeze_stages(self) -> None:
        frozen = [self.stem] if self.frozen_stages >= 0 else []
        frozen += [getattr(self, f'layer{i}')
                   for i in range(1, self.frozen_stages + 1)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'RecNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
