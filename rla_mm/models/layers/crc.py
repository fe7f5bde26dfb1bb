"""Channel-wise Recurrent Convolution (CRC) and the Recurrent module.

RecNets (Retsinas et al., *RecNets: Channel-wise Recurrent Convolutional
Neural Networks*), Sec. 2.1-2.3, Eq. 2-7. The input x (C_in channels) and the
output h (C_out channels) are split into d segments of S_in = C_in / d and
S_out = C_out / d channels; the segments are a sequence fed to a convolutional
RNN whose hidden states are the output segments::

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
``tests/reference_crc.py`` as the numerical reference.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.utils import _pair

from ...registry import MODELS

CRC_NONLINEARITIES = ('relu', 'shared_bn_relu', 'separate_bn_relu', 'linear')


def fold_segments(x: Tensor, num_segments: int) -> Tensor:
    """(N, num S, H, W) -> (num N, S, H, W): segments folded into the batch.

    Step-major (segment i of every sample is the contiguous block
    ``[i * N:(i + 1) * N]``) and in channels_last memory: the copy that the
    fold needs anyway writes NHWC directly, which oneDNN convolves without
    re-ordering to its blocked layout (an NCHW batch d times larger was
    measured up to 2x slower on CPU in ``tools/analysis_tools/
    benchmark_crc.py``'s shapes). The result is an ordinary NCHW-shaped
    tensor; only its strides differ.
    """
    n, c, height, width = x.shape
    seg = c // num_segments
    return (x.reshape(n, num_segments, seg, height, width)
            .permute(1, 0, 3, 4, 2)
            .reshape(num_segments * n, height, width, seg)
            .permute(0, 3, 1, 2))


def _square(name: str, value):
    """An int, or a square (a, a) pair as some callers pass, to an int."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f'CRC supports only square `{name}`, got '
                             f'{value}')
        return value[0]
    return value


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'`{name}` must be a positive int, got {value!r}')
    return value


def _check_odd_kernel(name: str, value) -> int:
    _check_positive_int(name, value)
    if value % 2 == 0:
        raise ValueError(f'`{name}` must be odd (the recurrence needs "same" '
                         f'padding), got {value}')
    return value


@MODELS.register_module()
class CRC(BaseModule):
    """Channel-wise Recurrent Convolution (RecNets Sec. 2.1, Eq. 2-5).

    A drop-in conv layer: ``mmcv.cnn.build_conv_layer(dict(type='CRC',
    num_segments=d), C_in, C_out, k, padding=p)`` gives a layer whose output
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
        in_channels (int): C_in, divisible by ``num_segments``.
        out_channels (int): C_out, divisible by ``num_segments``.
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
        num_segments (int): d, the number of segments (recurrent steps).
        kernel_size_x (int, optional): Kernel of W_x (3 or 1, Sec. 3.1.3).
        kernel_size_h (int, optional): Kernel of W_h (3 or 1, Sec. 3.1.3).
        nonlinearity (str): One of ``CRC_NONLINEARITIES``.
        norm_cfg (dict): The BN(s) of the BN modes and of ``'linear'``.
        parallel (bool): ``'linear'`` only: compute Eq. 5, one convolution with
            the block lower-triangular kernel ``W_x (x) W_h^(i-j)``. Exactly
            equal to the loop only for a 1x1 W_h (with a k x k W_h the "same"
            zero padding of every step makes the loop differ from Eq. 5 near
            the border), so it requires ``kernel_size_h=1``. Default False.

    Example:
        >>> crc = CRC(160, 640, 3, padding=1, num_segments=10)
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
                 num_segments: int,
                 kernel_size_x: Optional[int] = None,
                 kernel_size_h: Optional[int] = None,
                 nonlinearity: str = 'separate_bn_relu',
                 norm_cfg: dict = dict(type='BN'),
                 parallel: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        d = _check_positive_int('num_segments', num_segments)
        for name, channels in (('in_channels', in_channels),
                               ('out_channels', out_channels)):
            _check_positive_int(name, channels)
            if channels % d:
                raise ValueError(f'`{name}`={channels} is not divisible by '
                                 f'`num_segments`={d}')
        if nonlinearity not in CRC_NONLINEARITIES:
            raise ValueError(f'`nonlinearity` must be one of '
                             f'{CRC_NONLINEARITIES}, got {nonlinearity!r}')
        if groups != 1:
            raise ValueError(f'CRC supports only `groups=1`, got {groups}')
        if bias not in ('auto', True, False):
            raise ValueError(f"`bias` must be True, False or 'auto', got "
                             f'{bias!r}')
        k = _check_odd_kernel('kernel_size',
                              _square('kernel_size', kernel_size))
        k_x = _check_odd_kernel('kernel_size_x', kernel_size_x or k)
        k_h = _check_odd_kernel('kernel_size_h', kernel_size_h or k)
        dilation = _check_positive_int('dilation',
                                       _square('dilation', dilation))
        stride = _check_positive_int('stride', _square('stride', stride))
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
        self.num_segments = d
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
        u = self.conv_x(fold_segments(x, self.num_segments))
        return u.unflatten(0, (self.num_segments, n)).unbind(0)

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
            for i in range(1, self.num_segments):
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
        d = self.num_segments
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
        return (f'{self.in_channels}, {self.out_channels}, num_segments='
                f'{self.num_segments}, kernel_size_x={self.kernel_size_x}, '
                f'kernel_size_h={self.kernel_size_h}, stride={self.stride}, '
                f'nonlinearity={self.nonlinearity!r}, '
                f'parallel={self.parallel}')


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
        num_segments (int): d.
        expansion (int): e, S_out = e S_in. Default 4 (Sec. 3.1.2).
        kernel_size_x, kernel_size_h (int): Kernels of W_x, W_h. Default 3.
        nonlinearity (str): The CRC's sigma, see ``CRC``.
        merged (bool): Use the merged computation of Eq. 6-7. Default False.
        norm_cfg (dict): Norms of the CRC and the transition block.

    Example:
        >>> rec = RecurrentModule(80, 160, num_segments=10, expansion=4)
        >>> rec(torch.rand(2, 80, 8, 8)).shape
        torch.Size([2, 160, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_segments: int,
                 expansion: int = 4,
                 kernel_size_x: int = 3,
                 kernel_size_h: int = 3,
                 nonlinearity: str = 'separate_bn_relu',
                 merged: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        _check_positive_int('expansion', expansion)
        self.merged = merged
        self.crc = CRC(
            in_channels,
            expansion * in_channels,
            kernel_size_x,
            num_segments=num_segments,
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
        d, s_out = crc.num_segments, crc.seg_out
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

