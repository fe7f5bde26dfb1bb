"""How an RLA block's first conv reads ``cat(x, h)`` (RLA paper Sec. 3.3,
Fig. 3): the bricks behind ``split_conv1`` and the memory-saving
concatenation of the default path, shared by the RLA blocks and stages.

``conv1(cat(x, h))`` is computed either on the concatenation (the authors'
op order, ``conv_on_cat``) or as ``conv1_x(x) + conv1_h(h)`` from the two
slices of the stored weight (``conv_with_weight``); ``split_conv1`` selects
which, ``'auto'`` by the device of the input (``uses_split_conv1``).
"""
import weakref
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SPLIT_CONV1_CHOICES = ('auto', True, False)


def check_split_conv1(value) -> None:
    """Raise unless ``value`` is 'auto', True or False (not 0/1)."""
    if not (value == 'auto' or isinstance(value, bool)):
        raise ValueError(f'`split_conv1` must be one of '
                         f'{SPLIT_CONV1_CHOICES}, got {value!r}')


def uses_split_conv1(split_conv1, x: Tensor) -> bool:
    """Resolve ``split_conv1`` for a tensor: 'auto' means on CPU only."""
    if split_conv1 == 'auto':
        return x.device.type == 'cpu'
    return bool(split_conv1)


def is_plain_conv(conv: nn.Module) -> bool:
    """A bare ``nn.Conv2d`` with zero padding, whose weight may be sliced."""
    return type(conv) is nn.Conv2d and conv.padding_mode == 'zeros'


def conv_with_weight(conv: nn.Conv2d, x: Tensor, weight: Tensor,
                     bias: Optional[Tensor]) -> Tensor:
    """``conv`` applied with another weight (a slice of its own)."""
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation,
                    conv.groups)


def conv_on_cat(conv: nn.Module, x: Tensor, h: Tensor,
                recompute: bool) -> Tensor:
    """``conv(cat(x, h))`` whose autograd graph keeps x and h instead of the
    concatenation and rebuilds it in backward (one copy), so training holds
    no second copy of x per block. Outputs and gradients are bit for bit
    those of the plain op; under torch.compile the compiler decides."""
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


def zeros_hidden(x: Tensor, channels: int) -> Tensor:
    """h = 0 shaped and laid out like x (channels-last stays channels-last)."""
    h = x.new_zeros((x.shape[0], channels) + tuple(x.shape[2:]))
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        h = h.contiguous(memory_format=torch.channels_last)
    return h
