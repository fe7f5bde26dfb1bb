"""Attribute the ops of an RLA backbone's forward to the parts of the model.

For ``tools/analysis_tools/profile_rla.py``. The parts are found by module
type, not by source file or function name: :class:`PartLabels` puts a
``torch.profiler.record_function`` range around the forward of every module
that plays a role (forward pre-/post-hooks), and :func:`forward_parts` gives
each top-level aten op of a profile the part of its innermost labelled range
(by the op's name and shapes where a range holds several parts).

The roles, for RLA (Zhao, Fang, Li, *Recurrence along Depth: Deep
Convolutional Neural Networks with Recurrent Layer Aggregation*, NeurIPS
2021, arXiv:2110.11852, Sec. 3.3, Eq. (11), Fig. 3):

- the backbone's children other than its RLA stages (the stem), and its
  ``hidden_norm`` (classification output ``cat(x, ReLU(BN(h)))``);
- every ``RLABlockMixin`` block; inside it, ops before its ``norm1`` are its
  conv1 on ``cat(x, h)`` (concatenation, x half, h half, their sum), ops
  after are the body; ``conv1`` / ``downsample`` / ``eca`` children;
- every ``RLAUnit`` (Eq. (11)): ``conv_out`` (the projection y -> k),
  ``norms`` (with the unit's add and tanh: the h update) and its
  ``recurrent_conv`` (shared by several units in RLA-MobileNetV2);
- every ``RLALayer`` (stage runner): its own ops are the pooling of h, the
  deferred h updates, and the one GEMM that computes a pending projection
  with the next block's conv1 x half (its time is split by output rows).

Example:
    >>> labels = PartLabels(backbone)
    >>> with torch.profiler.profile(record_shapes=True) as prof:
    ...     backbone(x)
    >>> labels.remove()
    >>> forward_parts(prof, labels.rla_channel, repeats=1)
    {'block body (conv2/3, norms, ReLU)': 51.2, 'RLA pool h': 0.4, ...}
"""
import collections
from typing import Dict, List, Optional

import torch
from torch import nn

__all__ = ['PARTS', 'PREFIX', 'PartLabels', 'classify', 'forward_parts']

PREFIX = 'rla_mm::'
STEM = 'stem (conv, norm, ReLU, max-pool)'
BODY = 'block body (conv2/3, norms, ReLU)'
SHORTCUT = 'shortcut + residual add (+ECA)'
CONV1 = 'conv1 (on x, or on cat(x, h))'
CAT = 'RLA cat(x, h) for conv1'
CONV1_H = 'RLA conv1 h part (split_conv1)'
PROJECTION = 'RLA conv_out (1x1, C->k)'
UPDATE = 'RLA h update (add, norm, tanh)'
RECURRENT = 'RLA recurrent conv (3x3, k->k)'
POOL = 'RLA pool h'
HIDDEN_OUT = 'concat h to the output (classifier)'
BACKWARD = 'backward (see the op table)'
# One GEMM computes conv_out(y) (k rows) and the next conv1_x(y) (width
# rows); its time is split between the two in proportion to the rows.
SHARED_PARTS = ('RLA conv_out (in the shared GEMM, by rows)',
                'conv1 (x part, in the shared GEMM, by rows)')
#: Every part name; those of RLA's own work start with 'RLA '.
PARTS = (STEM, BODY, SHORTCUT, CONV1, CAT, CONV1_H, PROJECTION, UPDATE,
         RECURRENT, POOL, HIDDEN_OUT, BACKWARD) + SHARED_PARTS

# role of a labelled range -> part of the ops directly inside it
_FIXED = dict(stem=STEM, body=BODY, shortcut=SHORTCUT, conv1=CONV1,
              projection=PROJECTION, update=UPDATE, recurrent=RECURRENT,
              hidden_norm=HIDDEN_OUT)


# Elementwise ops of Eq. (11) that the stage runner runs for a deferred
# update: h + conv_out(y), tanh (on the CPU fast path 2 sigmoid(2z) - 1) and
# the copy that makes the recurrent conv's input channels-last.
_UPDATE_OPS = ('aten::add', 'aten::tanh', 'aten::sigmoid', 'aten::mul',
               'aten::sub', 'aten::contiguous', 'aten::clone', 'aten::copy')


class PartLabels:
    """Label the forward of every module of an RLA backbone that plays a
    role (see the module docstring) with a ``record_function`` range.

    Args:
        backbone (nn.Module): An rla_mm RLA backbone (RLAResNet, ...).

    Attributes:
        rla_channel (int): k, read from the first RLA unit's projection.

    Raises:
        ValueError: If the backbone has no ``RLAUnit``.
    """

    def __init__(self, backbone: nn.Module):
        from rla_mm.models.layers import RLABlockMixin, RLALayer, RLAUnit
        self._handles = []
        self._open: List = []
        roles: Dict[int, tuple] = {}
        self._body_starts: List[nn.Module] = []

        def assign(module: Optional[nn.Module], role: str):
            if isinstance(module, nn.Module):
                roles.setdefault(id(module), (module, role))

        units = [m for m in backbone.modules() if isinstance(m, RLAUnit)]
        if not units:
            raise ValueError(
                f'{type(backbone).__name__} has no RLA unit (RLAUnit): '
                'profile_rla.py profiles RLA backbones')
        self.rla_channel = units[0].conv_out.out_channels
        for unit in units:
            assign(unit.conv_out, 'projection')
            assign(unit.recurrent_conv, 'recurrent')
            for norm in unit.norms:
                assign(norm, 'update')
            assign(unit, 'unit')
        for module in backbone.modules():
            if isinstance(module, RLALayer):
                assign(module, 'layer')
            elif isinstance(module, RLABlockMixin):
                self._label_block(module, assign)
        assign(getattr(backbone, 'hidden_norm', None), 'hidden_norm')
        for child in backbone.children():
            if not isinstance(child, (RLALayer, RLAUnit)):
                assign(child, 'stem')
        assign(backbone, 'backbone')
        for module, role in roles.values():
            self._handles += [
                module.register_forward_pre_hook(self._enter(role)),
                module.register_forward_hook(self._exit)
            ]
        # after norm1's own range has closed (hooks run in registration
        # order), the rest of the block is its body
        for norm1 in self._body_starts:
            self._handles.append(norm1.register_forward_hook(
                lambda *args: self._push(PREFIX + 'block_body')))

    def _label_block(self, block: nn.Module, assign) -> None:
        assign(getattr(block, 'conv1', None), 'conv1')
        assign(getattr(block, 'downsample', None), 'shortcut')
        assign(getattr(block, 'eca', None), 'shortcut')
        norm1 = getattr(block, 'norm1', None)
        if isinstance(norm1, nn.Module):
            # the block's own ops after norm1 are its body, not its conv1
            self._body_starts.append(norm1)
        for child in block.children():
            assign(child, 'body')
        assign(block, 'block')

    def _push(self, name: str) -> None:
        scope = torch.profiler.record_function(name)
        scope.__enter__()
        self._open.append(scope)

    def _enter(self, role: str):

        def hook(module, args):
            self._open.append(None)  # marks where this module's ranges start
            self._push(PREFIX + role)

        return hook

    def _exit(self, module, args, output):
        while self._open:
            scope = self._open.pop()
            if scope is None:
                break
            scope.__exit__(None, None, None)

    def remove(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def _is_op(evt) -> bool:
    return evt.name.startswith('aten::')


def _role_of(evt) -> Optional[str]:
    """Role of the innermost labelled range above ``evt``; ``'backward'``
    for an op of the autograd engine; None if neither."""
    parent = evt.cpu_parent
    while parent is not None:
        if parent.name.startswith(PREFIX):
            return parent.name[len(PREFIX):]
        if parent.name.startswith('autograd::engine'):
            return 'backward'
        parent = parent.cpu_parent
    return None


def _in_channels(evt) -> Optional[int]:
    shapes = evt.input_shapes or []
    return shapes[0][1] if shapes and len(shapes[0]) == 4 else None


def classify(evt, rla_channel: int):
    """Part of a top-level op: a part name, or ``(share, part_a, part_b)``
    for the shared GEMM (``share`` of its time to ``part_a``)."""
    role, name = _role_of(evt), evt.name
    if role is None:
        return 'other'
    if role == 'backward':
        return BACKWARD
    if role in _FIXED:
        return _FIXED[role]
    if role == 'unit':  # RLAUnit's own ops: the add and tanh of Eq. (11)
        return UPDATE
    if role == 'block':  # before norm1: how conv1 reads cat(x, h)
        if name == 'aten::cat':
            return CAT
        if name.startswith(('aten::add', 'aten::baddbmm')):
            return CONV1_H  # conv1_h(h) + conv1_x(x)
        if 'conv' in name and _in_channels(evt) == rla_channel:
            return CONV1_H
        return CONV1
    if role == 'block_body':
        return SHORTCUT if name.startswith('aten::add') else BODY
    if role == 'layer':  # the stage runner's own ops
        if 'pool' in name:
            return POOL
        if name.startswith(_UPDATE_OPS):
            return UPDATE
        shapes = evt.input_shapes or []
        if 'conv' in name and len(shapes) > 1 and shapes[1]:
            return (rla_channel / shapes[1][0], ) + SHARED_PARTS
        return SHARED_PARTS[0]  # stacking the weights of the shared GEMM
    if role == 'backbone':
        return HIDDEN_OUT if name in ('aten::cat', 'aten::relu') else 'other'
    return f'other ({role})'


def forward_parts(prof, rla_channel: int, repeats: int) -> Dict[str, float]:
    """ms per step of every part, from the top-level aten ops of a profile
    taken with :class:`PartLabels` installed and ``record_shapes=True``."""
    parts = collections.Counter()
    for evt in prof.events():
        if not _is_op(evt) or (evt.cpu_parent is not None
                               and _is_op(evt.cpu_parent)):
            continue
        part = classify(evt, rla_channel)
        if isinstance(part, tuple):
            share, part_a, part_b = part
            parts[part_a] += share * evt.cpu_time_total
            parts[part_b] += (1 - share) * evt.cpu_time_total
        else:
            parts[part] += evt.cpu_time_total
    return {k: v / repeats / 1e3 for k, v in parts.items() if v > 0}
