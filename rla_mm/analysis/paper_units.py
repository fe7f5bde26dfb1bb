"""Parameters and FLOPs in the units the RLA paper prints.

RLA paper (Zhao, Fang and Li, *Recurrence along Depth: Deep Convolutional
Neural Networks with Recurrent Layer Aggregation*, NeurIPS 2021,
arXiv:2110.11852), Tables 3, 11 and 15. The authors' ``paras_flops.py`` runs
``thop.profile`` and formats its results with binary prefixes: "M" is
numel / 2^20 and "G" is multiply-adds / 2^30. So ResNet-50's 24.37M is
25,557,032 / 2^20 (not a different parameter count) and its 3.83G is
4,111,514,624 thop MACs / 2^30 (torchvision's ResNet, stride on the 3x3).

:func:`thop_macs` counts a model's traced ops with thop's rules through
mmengine's ``FlopAnalyzer`` (one handle per op, rla_mm's models unchanged):

- conv: ``out_numel * C_in / groups * kh * kw`` (+ ``out_numel`` with bias);
- batch norm: 2 per element; average pooling: 1 per output; adaptive /
  global average pooling (and a spatial ``mean``): ``H W + 1`` per output;
- linear: ``in_features`` per output;
- everything else 0: ReLU, tanh, sigmoid, max pooling, element-wise ops,
  and GroupNorm (thop has no rule for it).

Batched GEMMs (``baddbmm``, rla_mm's conv1 h half on CPU) count as the 1x1
conv they compute. One difference is the implementation's, not the
network's: rla_mm starts the recurrence with h_0 = None and skips the first
block's conv1 on the k zero channels of ``cat(x, h_0)``, which the authors'
code computes. :func:`zero_state_macs` gives that work; ``get_flops.py
--paper-table`` adds it to compare with the paper (and says so).

Example:
    >>> from rla_mm.analysis.build import build_backbone
    >>> model = build_backbone(dict(type='mmdet.ResNet', depth=18))
    >>> thop_macs(model, (224, 224)) / 2**30  # doctest: +SKIP
"""
import math
from typing import Sequence

import torch
from torch import nn

__all__ = ['MEGA', 'GIGA', 'thop_macs', 'zero_state_macs', 'paper_units',
           'baddbmm_flop_jit']

MEGA, GIGA = 2**20, 2**30


def _numel(shape) -> int:
    return math.prod(shape) if shape else 0


def _conv(inputs, outputs) -> int:
    from mmengine.analysis.jit_handles import get_shape
    out, weight = get_shape(outputs[0]), get_shape(inputs[1])
    bias = get_shape(inputs[2]) is not None
    return _numel(out) * (_numel(weight[1:]) + bias)


def _batch_norm(inputs, outputs) -> int:
    from mmengine.analysis.jit_handles import get_shape
    return 2 * _numel(get_shape(inputs[0]))


def _per_output(inputs, outputs) -> int:
    from mmengine.analysis.jit_handles import get_shape
    return _numel(get_shape(outputs[0]))


def _global_pool(inputs, outputs) -> int:
    from mmengine.analysis.jit_handles import get_shape
    n_in, n_out = _numel(get_shape(inputs[0])), _numel(get_shape(outputs[0]))
    return n_out * (n_in // max(n_out, 1) + 1)


def _linear(inputs, outputs) -> int:
    from mmengine.analysis.jit_handles import get_shape
    return _numel(get_shape(outputs[0])) * get_shape(inputs[0])[-1]


def _addmm(inputs, outputs) -> int:
    from mmengine.analysis.jit_handles import get_shape
    return _numel(get_shape(outputs[0])) * get_shape(inputs[1])[-1]


def baddbmm_flop_jit(inputs, outputs) -> int:
    """Multiply-adds of ``baddbmm(base, b1, b2)``: those of ``b1 @ b2``
    (mmengine's ``FlopAnalyzer`` has no handle for it, and rla_mm's CPU
    path computes conv1's h half with it)."""
    from mmengine.analysis.jit_handles import get_shape
    return _numel(get_shape(outputs[0])) * get_shape(inputs[1])[-1]


def _zero(inputs, outputs) -> int:
    return 0


THOP_HANDLES = {
    'aten::_convolution': _conv,
    'aten::batch_norm': _batch_norm,
    'aten::avg_pool2d': _per_output,
    'aten::adaptive_avg_pool2d': _global_pool,
    'aten::mean': _global_pool,
    'aten::linear': _linear,
    'aten::addmm': _addmm,
    'aten::baddbmm': baddbmm_flop_jit,
    'aten::group_norm': _zero,
    'aten::layer_norm': _zero,
    'aten::upsample_nearest2d': _zero,
}


def thop_macs(model: nn.Module, shape: Sequence[int] = (224, 224)) -> int:
    """Multiply-adds of ``model`` on one image of ``shape`` by thop's rules
    (module docstring), in eval mode; detectors run their ``tensor`` mode."""
    import functools

    from mmengine.analysis import FlopAnalyzer

    from .build import model_kind
    from .steps import make_inputs
    kind = model_kind(model)
    model.eval()
    x, samples = make_inputs(model, 1, tuple(shape), 'cpu', False,
                             train=False)
    if kind == 'detector':
        model.forward = functools.partial(
            model.forward, data_samples=samples, mode='tensor')
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (x, ))
        analyzer.set_op_handle(**THOP_HANDLES)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return int(analyzer.total())


def zero_state_macs(model: nn.Module,
                    shape: Sequence[int] = (224, 224)) -> int:
    """MACs of the first block's conv1 on the k zero channels of
    ``cat(x, h_0)``, which the authors' code computes and rla_mm skips
    (0 for a backbone without RLA, or whose first block does not read h
    through its conv1 first: those materialise the zeros themselves)."""
    from .build import find_backbone
    backbone = find_backbone(model)
    layer = getattr(backbone, 'layer1', None)
    block = layer[0] if layer is not None and len(layer) else None
    conv = getattr(block, 'cat_conv1', None)
    k = getattr(block, 'hidden_channels', 0)
    if conv is None or not k:
        return 0
    seen = {}

    def record(module, args):  # returns None: the block's inputs stay
        seen.setdefault('x', args[0].shape)

    hook = block.register_forward_pre_hook(record)
    try:
        backbone.eval()
        with torch.no_grad():
            backbone(torch.zeros(1, 3, *shape))
            out = conv(torch.zeros(1, conv.in_channels, *seen['x'][2:]))
    finally:
        hook.remove()
    kh, kw = conv.kernel_size
    return out.numel() * k // conv.groups * kh * kw


def paper_units(model: nn.Module, shape: Sequence[int] = (224, 224),
                with_zero_state: bool = True) -> dict:
    """``params`` (numel), ``macs`` (thop's rules, plus the zero-state work
    the authors' code does when ``with_zero_state``), and both in the
    paper's units ``params_m`` (/2^20) and ``gflops`` (/2^30)."""
    params = sum(p.numel() for p in model.parameters())
    macs = thop_macs(model, shape)
    extra = zero_state_macs(model, shape) if with_zero_state else 0
    return dict(params=params, macs=macs + extra, zero_state_macs=extra,
                params_m=params / MEGA, gflops=(macs + extra) / GIGA)
