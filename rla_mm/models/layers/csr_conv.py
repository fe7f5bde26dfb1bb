"""Channel-Split Recurrent Convolution (CSR-Conv): the paper's Eq. 2 and the
cell of the authors' released code.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.2, Eq. 2, Prop. 1-2, Fig. 3(c)/4. The C_in input channels
are split into T = ``num_steps`` groups of d = ceil(C_in / T) channels, the
groups are a sequence x_1 .. x_T fed to a convolutional RNN, and the T hidden
states (D channels each) are concatenated::

    h_t = ReLU( U * h_{t-1} + V * x_t ),   h_0 = 0,   t = 1 .. T     (Eq. 2)
    CSRConv(x) = concat(h_1, ..., h_T)

U (D x D x k x k) and V (D x d x k x k) are convolutions without bias shared by
all steps, so a CSR-Conv has k^2 D (D + d) weights; with C_in = d T and
C_out = D T this is (D + d) / (d T^2) = (1 + D / d) / T^2 of a plain conv's
k^2 d T D T. (Prop. 1 prints the last step as (1 + d / D) / T^2, an algebra
slip of its own first fraction k^2 D (D + d) / (k^2 D d T^2); both agree for
d = D, and the O(1 / T^2) rate stands.)

The authors' released code (the notebook ``RNN-MobileNet.ipynb`` of
github.com/tuaxon/CSR_Conv, class ``Seq_CNN``, the cell of their MobileNet-V2
models) computes another cell, ``cell='ode'``, with r_t = U * h_{t-1}::

    h_1 = V * x_1                                          (linear)
    h_t = (1 - beta) r_t + alpha ReLU( V * x_t + r_t ),   t = 2 .. T

(the notebook writes it as r_t + [alpha ReLU(V x_t + r_t) - beta r_t], an
Euler-like step around r_t). Point by point:

============== ============================== ===============================
               ``'rnn'`` (Eq. 2, default)     ``'ode'`` (``Seq_CNN``)
============== ============================== ===============================
split fill     zeros (ceil(d_l / T) x T)      copies of the first channels
step 1         ReLU(V x_1)                    V x_1
step t >= 2    ReLU(U h + V x)                (1 - beta) U h + alpha ReLU(.)
scalars        none                           alpha, beta (0.5 at init): +2
bias           optional, on V                 optional, on V and on U
T = 1          ReLU(V x), U not built         V x, U/alpha/beta not built
init           conv default; a backbone's     conv default (kaiming-uniform,
               ``init_cfg`` may override it   a = sqrt(5)), kept: see
                                              ``csr_layout.CSRCellInit``
names          U = ``recurrent_conv``,        ``param_v`` = U (state),
               V = ``input_conv``             ``param_u`` = V (data)
============== ============================== ===============================

Not taken from the notebook: its ``depth`` option (grouped U and V, used only
in a commented-out line: ``groups`` must be 1), its two gradient-mask hooks
(never registered), the U, alpha, beta it allocates at T = 1 and never uses
(not built here, so that every parameter gets a gradient), its biases left
uninitialised (here PyTorch's conv default), and its silent loss of output
channels when copies cannot fill the last group (ceil(C_in / T) T > 2 C_in;
a ``ValueError`` here).

Fast path: the input term V * x_t of all T steps runs as ONE convolution with
the steps folded into the batch dimension; only U * h_{t-1} loops (and is
skipped at t = 1, where h_0 = 0). The plain per-step loops are
``rla_mm.testing.reference_crc.csr_conv_reference`` (Eq. 2, GRU, LSTM) and
``rla_mm.testing.authors_csr.SeqCNN`` (the notebook's cell).
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from ...registry import MODELS
from ..utils import check_choice, check_int, check_odd_kernel_sizes
from .crc import fold_segments

CSR_CELLS = ('rnn', 'gru', 'lstm', 'ode')
# gates per cell: the input and recurrent convs have `gates * D` outputs
_CELL_GATES = dict(rnn=1, gru=3, lstm=4, ode=1)


class _ODEUpdate(torch.autograd.Function):
    """h = (1 - beta) r + alpha ReLU(a + r) (``cell='ode'``, t >= 2) as one
    autograd node with a written-out backward: fewer nodes and passes over
    the tensors than the composed ops (``docs/csr_conv.md``, Speed)."""

    @staticmethod
    def forward(ctx, a, r, alpha, beta):
        s = torch.relu_(a + r)
        ctx.save_for_backward(r, s, alpha, beta)
        return torch.addcmul(r * (1 - beta), s, alpha)

    @staticmethod
    def backward(ctx, grad):
        r, s, alpha, beta = ctx.saved_tensors
        # one layout for all (h_T's gradient comes NCHW from the output, the
        # others channels-last from U's backward), then flat dot products
        fmt = torch.channels_last if s.dim() == 4 and not s.is_contiguous() \
            else torch.contiguous_format
        grad, r = (t.contiguous(memory_format=fmt) for t in (grad, r))
        grad_a = torch.ops.aten.threshold_backward(grad * alpha, s, 0)
        grad_r = torch.addcmul(grad_a, grad, 1 - beta)
        g, s, r = (_flat(t, fmt) for t in (grad, s, r))
        return (grad_a, grad_r, torch.dot(g, s).view_as(alpha),
                -torch.dot(g, r).view_as(beta))


def _flat(t: Tensor, memory_format) -> Tensor:
    """The elements of a dense tensor in memory order."""
    if memory_format == torch.channels_last:
        t = t.permute(0, 2, 3, 1)
    return t.reshape(-1)


@MODELS.register_module()
class CSRConv(BaseModule):
    """Channel-Split Recurrent Convolution (CSR-Conv paper Sec. 3.2, Eq. 2;
    ``cell='ode'``: the authors' released ``Seq_CNN``, see the module
    docstring for the two side by side).

    Built like a conv: ``build_conv_layer(dict(type='CSRConv', num_steps=T,
    cell='rnn'), C_in, C_out, k, stride, padding, bias=False)``; the output
    has the size of ``nn.Conv2d(C_in, C_out, k, stride, padding)``'s, so any
    mmcv/mmdet/mmpretrain module that builds its convs through ``conv_cfg``
    can use it. ``num_steps=1`` is ReLU(V x) (Eq. 2 with T = 1; U, which
    would only see h_0 = 0, is not built), or V x for ``'ode'``.

    Channel bookkeeping: d = ceil(C_in / T) and D = ceil(C_out / T). The last
    input group is zero-padded (Sec. 3.2 "Channel split"), or for ``'ode'``
    filled with copies of the first d T - C_in channels (``Seq_CNN`` splits
    ``cat(x, x)``). When T does not divide C_out the T hidden states have
    D T > C_out channels and the last D T - C_out (the tail of h_T) are
    dropped, so that the layer keeps the C_out contract of a conv (the
    notebook does the same); U and V are still D-wide. The paper avoids the
    case by widening layers (Table 1: 256 -> 260, 512 -> 515 for T = 5),
    which is what ``CSRVGG`` does.

    Cells (Sec. 3.2 and 4.4): ``'rnn'`` (default, Eq. 2); ``'gru'``:
    z, r = sigmoid(V_{z,r} x_t + U_{z,r} h), n = tanh(V_n x_t + r (U_n h)),
    h_t = (1 - z) n + z h_{t-1}; ``'lstm'``: i, f, o = sigmoid(.),
    g = tanh(.), c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (PyTorch's gate
    conventions, all gates from one V and one U conv with 3 D / 4 D outputs);
    ``'ode'``: the notebook's h_1 = V x_1, h_t = (1 - beta) U h_{t-1} +
    alpha ReLU(V x_t + U h_{t-1}) with learnable scalars ``alpha`` and
    ``beta`` (0.5 at init).

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        kernel_size (int): k of U and V (odd).
        stride (int): Stride of V (U runs at the output resolution).
        padding (int | tuple): Padding of V. U uses "same" padding.
        dilation (int): Dilation of U and V.
        groups (int): Must be 1 (the notebook's grouped ``depth`` form is not
            supported).
        bias (bool): A bias on V, and for ``'ode'`` one on U too (the paper
            uses none). Default False.
        num_steps (int): T.
        cell (str): One of ``CSR_CELLS``. Default ``'rnn'``.

    Example:
        >>> conv = CSRConv(260, 260, 3, padding=1, num_steps=5)
        >>> sum(p.numel() for p in conv.parameters())  # Table 1, Conv6
        48672
        >>> conv(torch.rand(2, 260, 8, 8)).shape
        torch.Size([2, 260, 8, 8])
        >>> ode = CSRConv(960, 320, 1, num_steps=4, cell='ode')
        >>> sum(p.numel() for p in ode.parameters())  # 240 x 80 + 80^2 + 2
        25602
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
        if cell == 'ode' and self.seg_in * num_steps > 2 * in_channels:
            raise ValueError(
                f"cell='ode' fills the last input group with copies of the "
                f'first channels, which needs ceil(in_channels / num_steps) '
                f'* num_steps <= 2 * in_channels; got in_channels='
                f'{in_channels}, num_steps={num_steps}')
        gates = _CELL_GATES[cell] * self.hidden_channels
        self.input_conv = build_conv_layer(  # V
            None, self.seg_in, gates, kernel_size, stride=self.stride,
            padding=self.padding, dilation=dilation, bias=bias)
        # U; with T = 1 it would only ever see h_0 = 0, so it is not built
        self.recurrent_conv = build_conv_layer(
            None, self.hidden_channels, gates, kernel_size, stride=1,
            padding=tuple(dl * (k - 1) // 2
                          for k, dl in zip(kernel_size, dilation)),
            dilation=dilation, bias=bias and cell == 'ode'
        ) if num_steps > 1 else None
        if cell == 'ode' and num_steps > 1:
            self.alpha = nn.Parameter(torch.tensor(0.5))
            self.beta = nn.Parameter(torch.tensor(0.5))

    def reset_parameters(self) -> None:
        """PyTorch's conv init for U and V (kaiming-uniform, a = sqrt(5),
        which ``Seq_CNN`` uses for its kernels) and alpha = beta = 0.5."""
        for conv in (self.input_conv, self.recurrent_conv):
            if conv is not None:
                conv.reset_parameters()
        if hasattr(self, 'alpha'):
            nn.init.constant_(self.alpha, 0.5)
            nn.init.constant_(self.beta, 0.5)

    def input_term(self, x: Tensor) -> Tuple[Tensor, ...]:
        """V * x_t for all T steps as ONE convolution (see ``CRC``)."""
        n, c = x.shape[:2]
        if c != self.in_channels:
            raise ValueError(f'CSRConv expects {self.in_channels} input '
                             f'channels, got {c}')
        t, d = self.num_steps, self.seg_in
        fill = d * t - c
        if fill and self.cell == 'ode':  # copies of the first channels
            x = torch.cat([x, x[:, :fill]], 1)
        elif fill:  # zeros
            x = F.pad(x, (0, 0, 0, 0, 0, fill))
        v = self.input_conv(fold_segments(x, t))
        # unbind: one stacked gradient in backward, not T zero-filled ones
        return v.unflatten(0, (t, n)).unbind(0)

    def forward(self, x: Tensor) -> Tensor:
        v = self.input_term(x)
        step = getattr(self, f'_{self.cell}_step')
        big_d, c_out = self.hidden_channels, self.out_channels
        # one copy of each h_t (channels-last) into the NCHW output, the tail
        # of h_T beyond C_out left out
        out = v[0].new_empty(v[0].shape[0], c_out, *v[0].shape[2:])
        state = None
        for t in range(self.num_steps):
            h, state = step(v[t], state)
            width = min(big_d, c_out - t * big_d)
            out[:, t * big_d:t * big_d + width] = h[:, :width]
        return out

    def _rnn_step(self, vx: Tensor, state: Optional[Tensor]):
        pre = vx if state is None else vx + self.recurrent_conv(state)
        h = F.relu(pre)
        return h, h

    def _ode_step(self, vx: Tensor, state: Optional[Tensor]):
        if state is None:  # h_1 = V x_1: linear, no alpha
            return vx, vx
        r = self.recurrent_conv(state)
        if torch.is_grad_enabled():
            h = _ODEUpdate.apply(vx, r, self.alpha, self.beta)
        else:  # in place: vx (this step's slice of V x) and r are not reused
            s = vx.add_(r).relu_()
            h = r.mul_(1 - self.beta).addcmul_(s, self.alpha)
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

