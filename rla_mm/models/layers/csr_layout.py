"""Turning chosen convs of a network into CSR-Convs (CSR-Conv paper Sec. 3.1:
"a linear convolutional layer is either unchanged or split into T groups").

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023. The paper
builds its lightweight networks by replacing some convs of a backbone with
CSR-Convs; a *layout* ``{conv name: T}`` says which (``apply_csr_layout``).
``CSRCellInit`` keeps the cells' own init under a network's ``init_cfg``, as
in the authors' notebook.
"""
import fnmatch
from typing import Dict, Optional, Tuple, Union

from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model.weight_init import BaseInit
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from ..utils import check_choice, check_int
from .csr_conv import CSR_CELLS, CSRConv

#: The default ``init_cfg`` of the CSR backbones: mmpretrain's for
#: MobileNetV2 (Kaiming fan-out convs, BN 1 / 0, which is also the authors'
#: notebook's) and the cells' own init back (``CSRCell``, as the notebook,
#: whose init loop does not reach its cells). BaseModule copies it.
CSR_INIT_CFG = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
    dict(type='CSRCell')
]

@WEIGHT_INITIALIZERS.register_module(name='CSRCell')
class CSRCellInit(BaseInit):
    """``init_cfg`` entry ``dict(type='CSRCell')``: gives every ``CSRConv``
    of the module its own init back (``CSRConv.reset_parameters``).

    A network's ``dict(type='Kaiming', layer='Conv2d')`` also reaches the
    convs inside a CSR-Conv; the authors' notebook initialises only
    ``nn.Conv2d``, BN and ``nn.Linear`` modules, so its ``Seq_CNN`` cells keep
    their kaiming-uniform kernels and alpha = beta = 0.5. List this entry
    after the ones it must undo (mmengine applies ``Pretrained`` last).
    """

    def __call__(self, module: nn.Module) -> None:
        for m in module.modules():
            if isinstance(m, CSRConv):
                m.reset_parameters()

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: CSRConv.reset_parameters()'


def csr_conv_like(conv: nn.Conv2d, num_steps: int,
                  cell: str = 'rnn') -> CSRConv:
    """A ``CSRConv`` with ``conv``'s channels, kernel, stride, padding,
    dilation and bias (the paper's replacement of a linear conv, Sec. 3.1).

    Example:
        >>> csr_conv_like(nn.Conv2d(64, 96, 1), 3, 'ode').hidden_channels
        32
    """
    if any(k > 1 for k in conv.kernel_size) and (
            isinstance(conv.padding, str)
            or type(conv).__name__ == 'Conv2dAdaptivePadding'):
        raise ValueError(f'cannot replace {conv} with a CSRConv: its "same" '
                         'padding has no fixed size unless the kernel is 1x1')
    return build_conv_layer(
        dict(type='CSRConv', num_steps=num_steps, cell=cell),
        conv.in_channels, conv.out_channels, conv.kernel_size,
        stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
        groups=conv.groups, bias=conv.bias is not None)


def _layout_targets(module: nn.Module) -> Dict[str, str]:
    """Every name a layout may use -> the path of the ``nn.Conv2d`` it
    means: the conv's own path, and that of a ConvModule holding it."""
    targets, modules = {}, dict(module.named_modules())
    for name, m in modules.items():
        if isinstance(m, nn.Conv2d):
            targets[name] = name
            parent = name.rpartition('.')[0]
            if isinstance(modules.get(parent), ConvModule):
                targets[parent] = name
    return targets


def apply_csr_layout(module: nn.Module,
                     layout: Union[None, str, Dict[str, int]],
                     cell: str,
                     presets: Optional[Dict[str, Dict[str, int]]] = None
                     ) -> Dict[str, int]:
    """Replace the convs of ``module`` that ``layout`` names with CSR-Convs.

    A layout is to the convs of a network what ``conv_cfg`` is to one conv:
    ``{name: T}``, where a name is the path of an ``nn.Conv2d`` in
    ``module.named_modules()`` or of the mmcv ``ConvModule`` that holds it
    (``'layer3.2.conv.0'``), or an ``fnmatch`` pattern of such paths
    (``'layer4.*.conv.2'``); T = 1 keeps the conv. Every key must name a conv
    and no conv may get two different T.

    Args:
        module (nn.Module): The network, changed in place.
        layout (None | str | dict): ``{name: T}``, a key of ``presets``, or
            None (nothing changes).
        cell (str): The cell of every CSR-Conv (``CSR_CELLS``).
        presets (dict, optional): Named layouts.

    Returns:
        dict: ``{conv path: T}`` of the CSR-Convs built, in network order.
    """
    check_choice('csr_cell', cell, CSR_CELLS)
    if isinstance(layout, str):
        check_choice('csr_layout', layout, sorted(presets or {}))
        layout = presets[layout]
    if layout is None:
        return {}
    if not isinstance(layout, dict):
        raise ValueError('`csr_layout` must be None, a preset name or a dict '
                         f'{{conv name: num_steps}}, got {layout!r}')
    targets = _layout_targets(module)
    chosen: Dict[str, Tuple[int, str]] = {}
    for key, steps in layout.items():
        check_int(f'csr_layout[{key!r}]', steps)
        hits = [path for name, path in targets.items()
                if name == key or fnmatch.fnmatchcase(name, key)]
        if not hits:
            raise ValueError(
                f'`csr_layout`: {key!r} names no conv of '
                f'{type(module).__name__}; convs: {sorted(set(targets))}')
        for path in hits:
            other = chosen.setdefault(path, (steps, key))
            if other[0] != steps:
                raise ValueError(f'`csr_layout`: {path!r} gets T = {steps} '
                                 f'from {key!r} and T = {other[0]} from '
                                 f'{other[1]!r}')
    resolved = {}
    for path in (p for p in targets.values() if p in chosen):
        steps = chosen[path][0]
        if steps == 1 or path in resolved:
            continue
        conv = module.get_submodule(path)
        if conv.groups != 1:
            raise ValueError(f'`csr_layout`: {path!r} is a grouped conv '
                             f'(groups={conv.groups}); a CSRConv has '
                             'groups=1')
        parent, _, child = path.rpartition('.')
        setattr(module.get_submodule(parent), child,
                csr_conv_like(conv, steps, cell))
        resolved[path] = steps
    return resolved


def count_csr_convs(module: nn.Module) -> int:
    """#C-C of the paper's Table 2 counted as layers: the CSR-Convs."""
    return sum(isinstance(m, CSRConv) for m in module.modules())
