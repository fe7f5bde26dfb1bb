"""The recurrent layer aggregation (RLA) unit of one stage.

RLA paper (Zhao et al., NeurIPS 2021), Sec. 3.3, Eq. (11) and Fig. 3. For the
j-th block of a stage, with y_j the block feature that RLA aggregates::

    h_j = g( BN_j( h_{j-1} + conv1x1(y_j) ) ),   g = conv3x3 o tanh

The 1x1 conv (``conv_out``, stage channels -> k) and the recurrent 3x3 conv
(``recurrent_conv``, k -> k) are shared by all blocks of the stage (guideline 2
of Sec. 3.3); the BN is "unshared", one per block (``norms``). This is the
pre-activated ConvRNN of Fig. 3 (BN -> tanh -> conv).

``h = None`` stands for the all-zero hidden state that starts the recurrence
(Sec. 3.3: h_0 = 0), so that nothing is computed on zeros.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn


def pool_hidden(h: Optional[Tensor], stride: int) -> Optional[Tensor]:
    """Average-pool the hidden state by ``stride`` (Sec. 3.3, guideline 3).

    ``ceil_mode`` makes the result ceil(H / stride) x ceil(W / stride), the size
    that a stride-s conv with 'same' padding gives, so h keeps matching x on odd
    inputs (the authors' ``AvgPool2d(2, 2)`` floors and breaks there; on even
    sizes both are identical). ``None`` (h = 0) stays ``None``.
    """
    if stride == 1 or h is None:
        return h
    return F.avg_pool2d(
        h, stride, stride, ceil_mode=True, count_include_pad=False)


class RLAUnit(BaseModule):
    """Shared RLA convolutions of one stage plus one norm per block update.

    Args:
        in_channels (int): Channels of y (the stage's block features).
        rla_channels (int): k, the channels of the hidden state h.
        num_updates (int): Number of h updates in the stage (one BN each):
            the number of blocks, or one fewer when the last update feeds
            nothing (a detection backbone's last stage).
        conv_cfg (dict, optional): Config of the two convs.
        norm_cfg (dict): Config of the per-block norms (BN, SyncBN, GN...).
        recurrent_groups (int): Groups of the recurrent conv; ``rla_channels``
            makes it depthwise (RLA-MobileNetV2, App. B.2.1).

    Example:
        >>> unit = RLAUnit(256, 32, num_updates=3)
        >>> h = torch.zeros(2, 32, 14, 14)
        >>> unit(h, torch.rand(2, 256, 14, 14), 0).shape
        torch.Size([2, 32, 14, 14])
    """

    def __init__(self,
                 in_channels: int,
                 rla_channels: int,
                 num_updates: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 recurrent_groups: int = 1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.conv_out = build_conv_layer(
            conv_cfg, in_channels, rla_channels, kernel_size=1, bias=False)
        self.recurrent_conv = build_conv_layer(
            conv_cfg,
            rla_channels,
            rla_channels,
            kernel_size=3,
            padding=1,
            groups=recurrent_groups,
            bias=False)
        self.norms = nn.ModuleList(
            build_norm_layer(norm_cfg, rla_channels)[1]
            for _ in range(num_updates))

    def forward(self, h: Optional[Tensor], y: Tensor, index: int) -> Tensor:
        """Return the updated hidden state after block ``index``.

        ``h=None`` means h = 0.
        """
        return self.update(h, self.conv_out(y), index)

    def update(self,
               h: Optional[Tensor],
               projected_y: Tensor,
               index: int,
               owns_projection: bool = True) -> Tensor:
        """Eq. (11) given ``projected_y = conv_out(y)``.

        ``owns_projection=False`` when ``projected_y`` is a slice of a GEMM
        shared with the next block's conv1 (see ``RLAResLayer``), which must
        not be written to.
        """
        # In place on fresh tensors: neither conv nor norm backward reads its
        # own output, and tanh_ keeps the output that tanh backward needs.
        # IEEE addition is commutative, so `y + h` equals `h + y` bit for bit.
        if h is not None:
            projected_y = projected_y.add_(h) if owns_projection \
                else projected_y + h
        return self.recurrent_conv(
            torch.tanh_(self.norms[index](projected_y)))
