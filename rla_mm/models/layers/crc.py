"""Channel-wise Recurrent Convolution (CRC).

Retsinas, Elafrou, Goumas, Maragos, *RecNets: Channel-wise Recurrent
Convolutional Neural Networks*, BMVC 2019, arXiv:1905.11910; Sec. 2.1,
Eq. 2-5. The input x (C_in channels) and the output h (C_out channels) are
split into d segments of S_in = C_in / d and S_out = C_out / d channels; the
segments are a sequence of d recurrent steps (``num_steps``) fed to a
convolutional RNN whose hidden states are the output segments::

    h_0 = sigma_0( x_0 * W_x )
    h_i = sigma_i( x_i * W_x + h_{i-1} * W_h ),   i = 1 .. d-1     (Eq. 2/3)
    CRC(x) = concat(h_0, ..., h_{d-1})

W_x (S_out x S_in x k_x x k_x) and W_h (S_out x S_out x k_h x k_h) are shared
by all d steps, so a CRC has (S_in + S_out) S_out k^2 = (C_in + C_out) C_out
k^2 / d^2 weights (Sec. 2.1.1).

Fast path: the input term ``x_i * W_x`` does not depend on the recurrence, so
all d of them run as ONE convolution with the segments folded into the batch
dimension; only the recurrent term ``h_{i-1} * W_h`` loops over the steps.
The plain per-step loop straight from Eq. 3 is kept in
``rla_mm.testing.reference_crc`` as the numerical reference. The Recurrent
module (CRC + transition block, Sec. 2.2-2.3) is in ``recurrent_module.py``.
"""
import warnings
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.utils import _pair

from ...registry import MODELS
from ..utils import check_choice, check_int, check_odd_int, check_renamed

CRC_NONLINEARITIES = ('relu', 'shared_bn_relu', 'separate_bn_relu', 'linear')


def fold_segments(x: Tensor, num_steps: int) -> Tensor:
    """(N, T S, H, W) -> (T N, S, H, W): the channel segment of each of the
    T = ``num_steps`` recurrent steps folded into the batch.

    Step-major (segment i of every sample is the contiguous block
    ``[i * N:(i + 1) * N]``) and in channels_last memory: the copy that the
    fold needs anyway writes NHWC directly, which oneDNN convolves without
    re-ordering to its blocked layout (an NCHW batch d times larger was
    measured up to 2x slower on CPU in ``tools/analysis_tools/
    benchmark_crc.py``'s shapes). The result is an ordinary NCHW-shaped
    tensor; only its strides differ.

    Example:
        >>> fold_segments(torch.rand(2, 12, 5, 5), num_steps=3).shape
        torch.Size([6, 4, 5, 5])
    """
    n, c, height, width = x.shape
    seg = c // num_steps
    return (x.reshape(n, num_steps, seg, height, width)
            .permute(1, 0, 3, 4, 2)
            .reshape(num_steps * n, height, width, seg)
            .permute(0, 3, 1, 2))


def _square(name: str, value):
    """An int, or a square (a, a) pair as some callers pass, to an int."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f'CRC supports only square `{name}`, got '
                             f'{value}')
        return value[0]
    return value


@MODELS.register_module()
class CRC(BaseModule):
    """Channel-wise Recurrent Convolution (RecNets Sec. 2.1, Eq. 2-5).

    A drop-in conv layer: ``mmcv.cnn.build_conv_layer(dict(type='CRC',
    num_steps=d), C_in, C_out, k, padding=p)`` gives a layer whose output
    has the size of ``nn.Conv2d(C_in, C_out, k, padding=p)``'s, so any module
    that builds convs through ``conv_cfg`` can use it.

    Non-linearity ``sigma`` (Sec. 2.1.2, Table 2(a)):

    - ``'separate_bn_relu'`` (default, Eq. 3): one BN per step, then ReLU;
      no bias (the BN absorbs it). This is what the paper's RecNets use.
    - ``'shared_bn_relu'``: one BN shared by all steps, then ReLU.
    - ``'relu'`` (Eq. 2): ReLU with a bias b shared by all steps.
    - ``'linear'`` (Eq. 4): no non-linearity inside the recurrence; a BN and a
      ReLU over all C_out channels at the output. The recurrence is then
      linear and can be computed without the loop (Eq. 5, ``parallel=True``).

    Args:
        in_channels (int): C_in, divisible by ``num_steps``.
        out_channels (int): C_out, divisible by ``num_steps``.
        kernel_size (int): Default kernel size of W_x and W_h. Default 3.
        stride (int): Stride of the input term (W_x). Default 1.
        padding (int | tuple, optional): Padding of a ``kernel_size`` conv;
            the output has the size such a conv would give (W_x's own padding
            is adjusted when ``kernel_size_x`` differs). Default: "same".
        dilation (int): Dilation of W_x and W_h. Default 1.
        groups (int): Must be 1 (accepted for the conv-layer signature).
        bias (bool | str): Bias b of Eq. 2/4, shared by all steps. ``'auto'``
            (default): only for ``'relu'`` (the BN modes drop it, Eq. 3; for
            ``'linear'`` the output BN absorbs it).
        num_steps (int): d, the number of segments = recurrent steps
            (required).
        kernel_size_x (int, optional): Kernel of W_x (3 or 1, Sec. 3.1.3).
        kernel_size_h (int, optional): Kernel of W_h (3 or 1, Sec. 3.1.3).
        nonlinearity (str): One of ``CRC_NONLINEARITIES``.
        norm_cfg (dict): The BN(s) of the BN modes and of ``'linear'``.
        parallel (bool): ``'linear'`` only: compute Eq. 5, one convolution with
            the block lower-triangular kernel ``W_x (x) W_h^(i-j)``. Exactly
            equal to the loop only for a 1x1 W_h (with a k x k W_h the "same"
            zero padding of every step makes the loop differ from Eq. 5 near
            the border), so it requires ``kernel_size_h=1``. Default False.
        num_segments (int, optional): Deprecated alias of ``num_steps``.

    Example:
        >>> crc = CRC(160, 640, 3, padding=1, num_steps=10)
        >>> sum(p.numel() for p in crc.parameters())  # Sec. 2.1.1
        47360
        >>> crc(torch.rand(2, 160, 8, 8)).shape
        torch.Size([2, 640, 8, 8])
    """

    transposed = False
    output_padding = (0, 0)

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: Union[int, Tuple[int, int]] = 3,
                 stride: Union[int, Tuple[int, int]] = 1,
                 padding: Optional[Union[int, Tuple[int, int]]] = None,
                 dilation: Union[int, Tuple[int, int]] = 1,
                 groups: int = 1,
                 bias: Union[bool, str] = 'auto',
                 *,
                 num_steps: Optional[int] = None,
                 kernel_size_x: Optional[int] = None,
                 kernel_size_h: Optional[int] = None,
                 nonlinearity: str = 'separate_bn_relu',
                 norm_cfg: dict = dict(type='BN'),
                 parallel: bool = False,
                 init_cfg: Optional[dict] = None,
                 num_segments: Optional[int] = None) -> None:
        super().__init__(init_cfg)
        d = check_int('num_steps', check_renamed('num_steps', num_steps,
                                                 'num_segments', num_segments))
        for name, channels in (('in_channels', in_channels),
                               ('out_channels', out_channels)):
            check_int(name, channels)
            if channels % d:
                raise ValueError(f'`{name}`={channels} is not divisible by '
                                 f'`num_steps`={d}')
        check_choice('nonlinearity', nonlinearity, CRC_NONLINEARITIES)
        check_choice('groups', groups, (1, ))
        check_choice('bias', bias, ('auto', True, False))
        k = check_odd_int('kernel_size', _square('kernel_size', kernel_size))
        k_x = check_odd_int('kernel_size_x', kernel_size_x or k)
        k_h = check_odd_int('kernel_size_h', kernel_size_h or k)
        dilation = check_int('dilation', _square('dilation', dilation))
        stride = check_int('stride', _square('stride', stride))
        pad = _pair(dilation * (k - 1) // 2 if padding is None else padding)
        # W_x's own padding keeps the output size of a `kernel_size` conv
        pad_x = tuple(p + dilation * (k_x - k) // 2 for p in pad)
        if min(pad_x) < 0:
            raise ValueError(f'`padding`={padding} is too small for '
                             f'`kernel_size_x`={k_x}')
        if parallel and (nonlinearity != 'linear' or k_h != 1):
            raise ValueError(
                "`parallel=True` (Eq. 5) needs nonlinearity='linear' and "
                '`kernel_size_h=1`: with a k x k W_h the per-step zero '
                'padding makes the recurrence differ from Eq. 5 at the border')

        # the attributes mmcv's ConvModule reads from its conv
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = (k, k), (stride, stride)
        self.padding, self.groups = pad, 1
        self.dilation = (dilation, dilation)
        self.num_steps = d
        self.seg_in, self.seg_out = in_channels // d, out_channels // d
        self.kernel_size_x, self.kernel_size_h = k_x, k_h
        self.nonlinearity = nonlinearity
        self.parallel = parallel
        with_bias = (nonlinearity == 'relu') if bias == 'auto' else bias

        self.conv_x = build_conv_layer(
            None, self.seg_in, self.seg_out, k_x, stride=stride,
            padding=pad_x, dilation=dilation, bias=with_bias)
        self.conv_h = build_conv_layer(
            None, self.seg_out, self.seg_out, k_h, stride=1,
            padding=dilation * (k_h - 1) // 2, dilation=dilation, bias=False)
        if nonlinearity == 'separate_bn_relu':
            self.norms = nn.ModuleList(
                build_norm_layer(norm_cfg, self.seg_out)[1] for _ in range(d))
        elif nonlinearity == 'shared_bn_relu':
            self.norm = build_norm_layer(norm_cfg, self.seg_out)[1]
        elif nonlinearity == 'linear':
            self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    @property
    def num_segments(self) -> int:
        """Deprecated alias of ``num_steps`` (d)."""
        warnings.warn('`CRC.num_segments` is deprecated, use `num_steps`',
                      FutureWarning, stacklevel=2)
        return self.num_steps

    # ------------------------------------------------------------ pieces --
    def input_term(self, x: Tensor) -> Tuple[Tensor, ...]:
        """``x_i * W_x`` for all d steps as ONE convolution.

        Returns the d input terms (N, S_out, H', W'), from ``unbind``: its
        backward stacks the d gradients once, where indexing ``u[i]`` would
        scatter each into a zero-filled copy of the whole of u.
        """
        n, c = x.shape[:2]
        if c != self.in_channels:
            raise ValueError(f'CRC expects {self.in_channels} input channels, '
                             f'got {c}')
        u = self.conv_x(fold_segments(x, self.num_steps))
        return u.unflatten(0, (self.num_steps, n)).unbind(0)

    def recurrent_term(self, h: Tensor) -> Tensor:
        """``h_{i-1} * W_h`` (stride 1, "same" padding)."""
        return self.conv_h(h)

    def step(self, pre: Tensor, i: int) -> Tensor:
        """sigma_i of Eq. 2/3: the hidden state h_i from its pre-activation.

        For ``'linear'`` h_i is the pre-activation itself (Eq. 4); the output
        BN + ReLU are applied by the caller.
        """
        if self.nonlinearity == 'separate_bn_relu':
            return F.relu(self.norms[i](pre), inplace=True)
        if self.nonlinearity == 'shared_bn_relu':
            return F.relu(self.norm(pre), inplace=True)
        if self.nonlinearity == 'relu':
            return F.relu(pre)
        return pre

    def output_norm_segment(self, h: Tensor, i: int) -> Tensor:
        """``'linear'``: the output BN + ReLU restricted to segment i.

        A BN normalises every channel on its own, so BN over the concatenated
        output equals BN of each segment with its slice of the BN's
        parameters and statistics; this is what lets the Recurrent module's
        merged path (Eq. 7) avoid the concatenation for ``'linear'`` too.
        """
        bn = self.norm
        if not isinstance(bn, _BatchNorm):
            raise TypeError(f'the merged path of a linear CRC needs a '
                            f'BatchNorm output norm, got {type(bn).__name__}')
        sl = slice(i * self.seg_out, (i + 1) * self.seg_out)
        use_batch = bn.training or not bn.track_running_stats
        momentum = bn.momentum
        if bn.training and bn.track_running_stats:
            if i == 0:  # once per forward, as _BatchNorm.forward does
                bn.num_batches_tracked.add_(1)
            if momentum is None:
                momentum = 1.0 / float(bn.num_batches_tracked)
        running = bn.track_running_stats and bn.running_mean is not None
        out = F.batch_norm(
            h, bn.running_mean[sl] if running else None,
            bn.running_var[sl] if running else None,
            bn.weight[sl] if bn.affine else None,
            bn.bias[sl] if bn.affine else None, use_batch,
            momentum or 0.0, bn.eps)
        return F.relu(out, inplace=True)

    # ----------------------------------------------------------- forward --
    def forward(self, x: Tensor) -> Tensor:
        if self.parallel:
            out = self._forward_parallel(x)
        else:
            u = self.input_term(x)
            hidden = []
            h = self.step(u[0], 0)
            hidden.append(h)
            for i in range(1, self.num_steps):
                h = self.step(u[i] + self.recurrent_term(h), i)
                hidden.append(h)
            # stacking channels_last states gives a channels_last output
            out = torch.stack(hidden, dim=1).flatten(1, 2).contiguous()
        if self.nonlinearity == 'linear':
            out = F.relu(self.norm(out), inplace=True)
        return out

    def _forward_parallel(self, x: Tensor) -> Tensor:
        """Eq. 5 for the linear recursion with a 1x1 W_h (see ``parallel``).

        h_i = sum_{j<=i} x_j * (W_h^(i-j) W_x) + sum_{m<=i} W_h^m b: one
        convolution of x with a (d S_out) x (d S_in) block lower-triangular
        kernel whose block (i, j) is W_h^(i-j) W_x.
        """
        d = self.num_steps
        w_x = self.conv_x.weight
        w_h = self.conv_h.weight[:, :, 0, 0]
        powers = [w_x]
        for _ in range(1, d):
            powers.append(torch.einsum('op,pikl->oikl', w_h, powers[-1]))
        zeros = torch.zeros_like(w_x)
        kernel = torch.cat([
            torch.cat([powers[i - j] if j <= i else zeros
                       for j in range(d)], dim=1) for i in range(d)
        ], dim=0)
        bias = None
        if self.conv_x.bias is not None:
            acc = [self.conv_x.bias]
            for _ in range(1, d):  # B_i = b + W_h B_{i-1}
                acc.append(self.conv_x.bias + w_h @ acc[-1])
            bias = torch.cat(acc)
        return F.conv2d(x, kernel, bias, self.conv_x.stride,
                        self.conv_x.padding, self.conv_x.dilation)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, num_steps='
                f'{self.num_steps}, kernel_size_x={self.kernel_size_x}, '
                f'kernel_size_h={self.kernel_size_h}, stride={self.stride}, '
                f'nonlinearity={self.nonlinearity!r}, '
                f'parallel={self.parallel}')
