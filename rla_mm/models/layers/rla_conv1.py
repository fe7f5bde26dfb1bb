"""How an RLA block's first conv reads ``cat(x, h)`` (RLA paper, Zhao, Fang
and Li, *Recurrence along Depth: Deep Convolutional Neural Networks with
Recurrent Layer Aggregation*, NeurIPS 2021, arXiv:2110.11852, Sec. 3.3 and
Fig. 3): every post-activation RLA block calls :func:`rla_conv1`.

``conv1(cat(x, h))`` is computed one of two ways, with the same result up to
float rounding (``tests`` compare both with a plain reference in float64):

- on the concatenation (:func:`conv_on_cat`), the authors' op order; its
  autograd graph keeps x and h rather than the concatenation, so training
  holds no second copy of x per block;
- split (``split=True``): ``conv1_x(x) + conv1_h(h)`` from the two slices of
  the stored weight, without building the concatenation. When the caller
  already has ``conv1_x(x)`` (the stage runner computes it in one GEMM with
  the previous block's RLA projection, :func:`conv1_x_and_projection`), it
  passes it in.

``h = None`` is the zero state that starts the recurrence (Sec. 3.3,
h_0 = 0): conv1 then runs on x with the x slice of its weight, which is
exactly conv1 on ``cat(x, 0)``. The stage runner (``rla.py``) decides the
path once per forward (:func:`uses_split_conv1`).
"""
import weakref
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..utils import check_choice

SPLIT_CONV1_CHOICES = ('auto', True, False)
#: How a block computes ``conv1(cat(x, h))``, decided by the stage runner:
#: split into x and h halves; on the concatenation keeping x and h for
#: backward; on the concatenation as a plain op (inside a checkpointed block,
#: whose recomputation already frees what the op saves).
CONV1_PATHS = ('split', 'cat_recompute', 'cat')


def check_split_conv1(value) -> None:
    """Raise unless ``value`` is 'auto', True or False (not 0/1)."""
    check_choice('split_conv1', value, SPLIT_CONV1_CHOICES)


def uses_split_conv1(split_conv1, x: Tensor) -> bool:
    """Resolve ``split_conv1`` for a tensor: 'auto' means on CPU only, where
    ``tools/analysis_tools/benchmark.py`` measured it faster (docs/speed.md);
    elsewhere the authors' op order is kept until measured."""
    if split_conv1 == 'auto':
        return x.device.type == 'cpu'
    return bool(split_conv1)


def is_plain_conv(conv: nn.Module) -> bool:
    """A bare ``nn.Conv2d`` with zero padding, whose weight may be sliced
    (not weight standardisation, DCN or other convs with their own maths)."""
    return type(conv) is nn.Conv2d and conv.padding_mode == 'zeros'


def is_plain_1x1(conv: nn.Module) -> bool:
    """A plain stride-1 ungrouped 1x1 conv: a GEMM over the channels."""
    return (is_plain_conv(conv) and conv.kernel_size == (1, 1)
            and conv.stride == (1, 1) and conv.padding == (0, 0)
            and conv.dilation == (1, 1) and conv.groups == 1)


def conv_with_weight(conv: nn.Conv2d, x: Tensor, weight: Tensor,
                     bias: Optional[Tensor]) -> Tensor:
    """``conv`` applied with another weight (a slice of its own)."""
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation,
                    conv.groups)


def zeros_hidden(x: Tensor, channels: int) -> Tensor:
    """h = 0 shaped and laid out like x (channels-last stays channels-last),
    for blocks whose maths needs the zeros themselves (a norm or depthwise
    conv over ``cat(x, h)``)."""
    h = x.new_zeros((x.shape[0], channels) + tuple(x.shape[2:]))
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        h = h.contiguous(memory_format=torch.channels_last)
    return h


def conv_on_cat(conv: nn.Module, x: Tensor, h: Tensor,
                recompute: bool) -> Tensor:
    """``conv(cat(x, h))``. With ``recompute`` its autograd graph keeps x and
    h instead of the concatenation and rebuilds it in backward (one copy).
    Outputs and gradients are bit for bit those of the plain op; under
    torch.compile the compiler decides."""
    xh = torch.cat([x, h], dim=1)
    if not (recompute and torch.is_grad_enabled()
            and (xh.requires_grad or conv.weight.requires_grad)) \
            or torch.compiler.is_compiling():
        return conv(xh)

    # the hooks live as long as the graph: they must not hold the cat alive
    cat_ref = weakref.ref(xh)

    def pack(t: Tensor):
        return (x, h) if t is cat_ref() else t

    def unpack(saved):
        return torch.cat(saved, dim=1) if isinstance(saved, tuple) else saved

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        return conv(xh)


def in_graph_capture() -> bool:
    """Whether torch.compile, ``torch.jit.trace`` or the ONNX exporter is
    recording the forward (eager-only kernels, such as the ``baddbmm`` of
    :func:`add_1x1_conv`, would be captured as they are)."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or \
        torch.onnx.is_in_onnx_export()


def rla_conv1(conv: nn.Module,
              x: Tensor,
              h: Optional[Tensor],
              conv1_x: Optional[Tensor] = None,
              path: str = 'cat_recompute',
              x_channels: Optional[int] = None) -> Tensor:
    """``conv(cat(x, h))`` of Fig. 3; ``h=None`` means h = 0.

    Args:
        conv (nn.Module): The block's first conv, with ``C_x + k`` inputs.
        x (Tensor): Block input, ``(N, C_x, H, W)``.
        h (Tensor, optional): Hidden state, ``(N, k, H, W)``.
        conv1_x (Tensor, optional): ``conv``'s x slice applied to x (bias
            included) if the caller computed it; implies the split path.
        path (str): One of ``CONV1_PATHS``: ``'split'`` computes
            ``conv1_x(x) + conv1_h(h)``; ``'cat_recompute'`` the conv of the
            concatenation keeping x and h for backward (``conv_on_cat``);
            ``'cat'`` the plain conv of the concatenation.
        x_channels (int, optional): C_x, known to the block: the weight is
            then sliced at a Python int, so a traced or exported graph
            holds the slices as constants (``x.shape[1]`` is recorded as a
            shape computation).

    Example:
        >>> conv = nn.Conv2d(8 + 4, 16, 1, bias=False)
        >>> x, h = torch.rand(1, 8, 5, 5), torch.rand(1, 4, 5, 5)
        >>> torch.allclose(rla_conv1(conv, x, h, path='split'),
        ...                conv(torch.cat([x, h], 1)), atol=1e-6)
        True
    """
    c = x.shape[1] if x_channels is None else x_channels
    if not is_plain_conv(conv):  # e.g. weight standardisation: as is
        if h is None:
            h = zeros_hidden(x, conv.in_channels - c)
        return conv_on_cat(conv, x, h, path == 'cat_recompute')
    if h is not None and conv1_x is None and path != 'split':
        return conv_on_cat(conv, x, h, path == 'cat_recompute')
    fresh = conv1_x is None
    if fresh:
        conv1_x = conv_with_weight(conv, x, conv.weight[:, :c], conv.bias)
    if h is None:
        return conv1_x
    if is_plain_1x1(conv) and x.is_contiguous() and not in_graph_capture():
        # NCHW (keeps x's layout); eager only: captured, a batched GEMM
        # is a MatMul with an expanded weight that no compiler folds
        return add_1x1_conv(conv1_x, conv.weight[:, c:], h)
    conv1_h = conv_with_weight(conv, h, conv.weight[:, c:], None)
    # conv1_x first: the sum keeps x's memory layout (h may be channels-last)
    return conv1_x.add_(conv1_h) if fresh else conv1_x + conv1_h


def add_1x1_conv(base: Tensor, weight: Tensor, h: Tensor) -> Tensor:
    """``base + conv1x1(h, weight)`` as one batched GEMM with the addition
    inside (``baddbmm``): with h's few channels (k = 32) faster on CPU than a
    conv followed by an add (docs/speed.md). ``base`` is NCHW, possibly a
    channel slice of a larger tensor (a view of a shared GEMM's output); h
    may be NCHW or channels-last (BLAS reads either without a copy). The
    result is a new contiguous NCHW tensor.

    Example:
        >>> base, h = torch.rand(2, 16, 5, 5), torch.rand(2, 4, 5, 5)
        >>> weight = torch.rand(16, 4, 1, 1)
        >>> torch.allclose(add_1x1_conv(base, weight, h),
        ...                base + F.conv2d(h, weight), atol=1e-6)
        True
    """
    out = torch.baddbmm(base.flatten(2),
                        weight.flatten(1).expand(h.shape[0], -1, -1),
                        h.flatten(2))
    return out.view(base.shape)


def conv1_x_and_projection(x: Tensor, conv1: nn.Conv2d,
                           projection: nn.Conv2d) -> Tuple[Tensor, Tensor]:
    """``(conv1_x(x), projection(x))`` from ONE conv: both are plain 1x1
    stride-1 convs of the same x (check with :func:`is_plain_1x1`), so their
    weights stack into one GEMM. ``conv1_x`` is the x slice of ``conv1``,
    whose input is ``cat(x, h)`` (x's channels: the projection's inputs, a
    Python int, so that an exported graph holds the stacked weight as a
    constant)."""
    weight = torch.cat(
        [conv1.weight[:, :projection.in_channels], projection.weight])
    bias = None
    if conv1.bias is not None or projection.bias is not None:
        bias = torch.cat([
            b if b is not None else weight.new_zeros(c.out_channels)
            for b, c in ((conv1.bias, conv1), (projection.bias, projection))
        ])
    out = F.conv2d(x, weight, bias)
    return tuple(
        out.split([conv1.out_channels, projection.out_channels], dim=1))
