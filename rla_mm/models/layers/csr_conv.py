"""Channel-Split Recurrent Convolution (CSR-Conv).

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.2, Eq. 2, Prop. 1-2, Fig. 3(c)/4. The C_in input channels
are split into T = ``num_steps`` groups of d = ceil(C_in / T) channels (the
last group is zero-padded), the groups are a sequence x_1 .. x_T fed to a
convolutional RNN, and the T hidden states (D channels each) are
concatenated::

    h_t = ReLU( U * h_{t-1} + V * x_t ),   h_0 = 0,   t = 1 .. T     (Eq. 2)
    CSRConv(x) = concat(h_1, ..., h_T)

U (D x D x k x k) and V (D x d x k x k) are convolutions without bias shared by
all steps, so a CSR-Conv has k^2 D (D + d) weights; with C_in = d T and
C_out = D T this is (D + d) / (d T^2) = (1 + D / d) / T^2 of a plain conv's
k^2 d T D T. (Prop. 1 prints the last step as (1 + d / D) / T^2, an algebra
slip of its own first fraction k^2 D (D + d) / (k^2 D d T^2); both agree for
d = D, and the O(1 / T^2) rate stands.)

Fast path: the input term V * x_t of all T steps runs as ONE convolution with
the steps folded into the batch dimension; only U * h_{t-1} loops (and is
skipped at t = 1, where h_0 = 0). The plain per-step loop is
``rla_mm.testing.reference_crc.csr_conv_reference``.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.utils import _pair

from ...registry import MODELS
from ..utils import check_choice, check_int, check_odd_kernel_sizes
from .crc import fold_segments

CSR_CELLS = ('rnn', 'gru', 'lstm')
# gates per cell: the input and recurrent convs have `gates * D` outputs
_CELL_GATES = dict(rnn=1, gru=3, lstm=4)


@MODELS.register_module()
class CSRConv(BaseModule):
    """Channel-Split Recurrent Convolution (CSR-Conv paper Sec. 3.2, Eq. 2).

    Built like a conv: ``build_conv_layer(dict(type='CSRConv', num_steps=T,
    cell='rnn'), C_in, C_out, k, stride, padding, bias=False)``; the output
    has the size of ``nn.Conv2d(C_in, C_out, k, stride, padding)``'s, so any
    mmcv/mmdet/mmpretrain module that builds its convs through ``conv_cfg``
    can use it. ``num_steps=1`` is ReLU(V x) (Eq. 2 with T = 1; U, which
    would only see h_0 = 0, is not built).

    Channel bookkeeping: d = ceil(C_in / T) (the last group is zero-padded,
    Sec. 3.2 "Channel split") and D = ceil(C_out / T). When T does not divide
    C_out the T hidden states have D T > C_out channels and the last
    D T - C_out channels (the tail of h_T) are dropped, so that the layer
    keeps the C_out contract of a conv; U and V are still D-wide. The paper
    avoids the case by widening layers (Table 1: 256 -> 260, 512 -> 515 for
    T = 5), which is what ``CSRVGG`` does.

    Cells (Sec. 3.2 and 4.4): ``'rnn'`` (default, Eq. 2); ``'gru'``:
    z, r = sigmoid(V_{z,r} x_t + U_{z,r} h), n = tanh(V_n x_t + r (U_n h)),
    h_t = (1 - z) n + z h_{t-1}; ``'lstm'``: i, f, o = sigmoid(.),
    g = tanh(.), c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (PyTorch's gate
    conventions, all gates from one V and one U conv with 3 D / 4 D outputs).

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        kernel_size (int): k of U and V.
        stride (int): Stride of V (U runs at the output resolution).
        padding (int | tuple): Padding of V. U uses "same" padding.
        dilation (int): Dilation of U and V.
        groups (int): Must be 1.
        bias (bool): A bias on V (the paper uses none). Default False.
        num_steps (int): T.
        cell (str): One of ``CSR_CELLS``. Default ``'rnn'``.

    Example:
        >>> conv = CSRConv(260, 260, 3, padding=1, num_steps=5)
        >>> sum(p.numel() for p in conv.parameters())  # Table 1, Conv6
        48672
        >>> conv(torch.rand(2, 260, 8, 8)).shape
        torch.Size([2, 260, 8, 8])
    """

    transposed = False
    output_padding = (0, 0)

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: Union[int, Tuple[int, int]],
                 stride: Union[int, Tuple[int, int]] = 1,
                 padding: Union[int, Tuple[int, int]] = 0,
                 dilation: Union[int, Tuple[int, int]] = 1,
                 groups: int = 1,
                 bias: bool = False,
                 *,
                 num_steps: int,
                 cell: str = 'rnn',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        check_int('in_channels', in_channels)
        check_int('out_channels', out_channels)
        check_int('num_steps', num_steps)
        check_choice('cell', cell, CSR_CELLS)
        check_choice('groups', groups, (1, ))
        # U runs with "same" padding: odd kernels only
        kernel_size = check_odd_kernel_sizes('kernel_size',
                                             _pair(kernel_size), 2)
        dilation = _pair(dilation)
        # the attributes mmcv's ConvModule reads from its conv
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, _pair(stride)
        self.padding, self.dilation, self.groups = _pair(padding), dilation, 1
        self.num_steps, self.cell = num_steps, cell
        self.seg_in = math.ceil(in_channels / num_steps)  # d
        self.hidden_channels = math.ceil(out_channels / num_steps)  # D
        gates = _CELL_GATES[cell] * self.hidden_channels
        self.input_conv = build_conv_layer(  # V
            None, self.seg_in, gates, kernel_size, stride=self.stride,
            padding=self.padding, dilation=dilation, bias=bias)
        # U; with T = 1 it would only ever see h_0 = 0, so it is not built
        self.recurrent_conv = build_conv_layer(
            None, self.hidden_channels, gates, kernel_size, stride=1,
            padding=tuple(dl * (k - 1) // 2
                          for k, dl in zip(kernel_size, dilation)),
            dilation=dilation, bias=False) if num_steps > 1 else None

    def input_term(self, x: Tensor) -> Tuple[Tensor, ...]:
        """V * x_t for all T steps as ONE convolution (see ``CRC``)."""
        n, c = x.shape[:2]
        if c != self.in_channels:
            raise ValueError(f'CSRConv expects {self.in_channels} input '
                             f'channels, got {c}')
        t, d = self.num_steps, self.seg_in
        if d * t != c:  # zero-pad the last group
            x = F.pad(x, (0, 0, 0, 0, 0, d * t - c))
        v = self.input_conv(fold_segments(x, t))
        # unbind: one stacked gradient in backward, not T zero-filled ones
        return v.unflatten(0, (t, n)).unbind(0)

    def forward(self, x: Tensor) -> Tensor:
        v = self.input_term(x)
        step = getattr(self, f'_{self.cell}_step')
        hidden, state = [], None
        for t in range(self.num_steps):
            h, state = step(v[t], state)
            hidden.append(h)
        out = torch.stack(hidden, dim=1).flatten(1, 2)
        return out[:, :self.out_channels].contiguous()

    def _rnn_step(self, vx: Tensor, state: Optional[Tensor]):
        pre = vx if state is None else vx + self.recurrent_conv(state)
        h = F.relu(pre)
        return h, h

    def _gru_step(self, vx: Tensor, state: Optional[Tensor]):
        vz, vr, vn = vx.chunk(3, dim=1)
        if state is None:  # h_0 = 0: U h_0 = 0, h_1 = (1 - z) n
            z, n = torch.sigmoid(vz), torch.tanh(vn)
            h = (1 - z) * n
            return h, h
        uz, ur, un = self.recurrent_conv(state).chunk(3, dim=1)
        z, r = torch.sigmoid(vz + uz), torch.sigmoid(vr + ur)
        n = torch.tanh(vn + r * un)
        h = (1 - z) * n + z * state
        return h, h

    def _lstm_step(self, vx: Tensor, state: Optional[Tuple[Tensor, Tensor]]):
        if state is None:  # h_0 = c_0 = 0
            gi, _, gg, go = vx.chunk(4, dim=1)
            c = torch.sigmoid(gi) * torch.tanh(gg)
        else:
            h_prev, c_prev = state
            gi, gf, gg, go = (vx + self.recurrent_conv(h_prev)).chunk(4, dim=1)
            c = torch.sigmoid(gf) * c_prev + \
                torch.sigmoid(gi) * torch.tanh(gg)
        h = torch.sigmoid(go) * torch.tanh(c)
        return h, (h, c)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, '
                f'kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}, num_steps={self.num_steps}, '
                f'cell={self.cell!r}, d={self.seg_in}, '
                f'D={self.hidden_channels}')
