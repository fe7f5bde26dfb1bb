"""The recurrent layer aggregation (RLA) recurrence: Eq. (11) and the stage
that runs it.

RLA paper: Zhao, Fang and Li, *Recurrence along Depth: Deep Convolutional
Neural Networks with Recurrent Layer Aggregation*, NeurIPS 2021,
arXiv:2110.11852. For the j-th block of a stage, with y_j the block feature
that RLA aggregates (Sec. 3.3, Eq. (11), Fig. 3)::

    h_j = g( BN_j( h_{j-1} + conv1x1(y_j) ) ),   g = conv3x3 o tanh

- :class:`RLAUnit` owns Eq. (11): the projection ``conv_out`` (y -> k, the
  authors' name, kept for their checkpoints), one BN per update (``norms``,
  "unshared", guideline 2 of Sec. 3.3) and the recurrent conv
  ``recurrent_conv`` (k -> k), shared by the blocks of a stage or, in
  RLA-MobileNetV2, by several groups of a resolution stage.
- :class:`RLALayer` is a stage: blocks ``0 .. n-1`` then the unit ``rla``.
  It runs the loop over the blocks (each reads ``cat(x, h)``, Fig. 3; h is
  average-pooled at strided blocks, guideline 3), and is the one place that
  decides how ``conv1(cat(x, h))`` is computed (``rla_conv1.py``).
- ``h = None`` is the zero state h_0 = 0 that starts the recurrence in every
  RLA network, so nothing is computed on zeros.

**Cells.** :class:`RLAUnit` is the ``'rnn'`` cell of Eq. (11); the ablation
cells of Sec. 4.4 / App. B.4 (``rla_cells.py``: post-activated, ConvLSTM,
ConvGRU) are small subclasses with the same interface, chosen by name with
:func:`build_rla_unit`, so the stage runner has no branch per variant. A
cell's *state* is h, or a tuple whose first element is h (the ConvLSTM's
``(h, c)``); :func:`hidden_of` gives the h that blocks and heads read and
:func:`pool_hidden` pools every element. A unit's projection (``conv_out``)
and recurrent conv are shared by the stage's updates or, with
``shared=False`` (Table 11 (b)), one per update; ``update='post'`` adds the
projection after the recurrent conv (Fig. 4, v2/v4/v6).

**Deferred updates (the CPU fast path).** With ``rla_source='output'`` (the
authors' code) the feature y_j that updates h *is* the next block's input x.
On the split path the stage therefore leaves the update with y_j pending and
lets its consumer, the next block (in this stage or the next one), finish
Eq. (11) at its own input: when that block's first conv is a plain 1x1 conv
of ``cat(x, h)``, ``conv_out(x)`` and the conv's x half run as one GEMM
(``conv1_x_and_projection``). A stage therefore takes and returns
``(x, h, pending)``; :func:`apply_pending_update` finishes a pending update
wherever a consumer has no GEMM to share (the end of the network).
"""
from typing import NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..utils import check_choice
from .rla_conv1 import (check_split_conv1, conv1_x_and_projection,
                        in_graph_capture, is_plain_1x1, uses_split_conv1)


RLA_UPDATES = ('pre', 'post')


def hidden_of(state):
    """The hidden state h of a cell's state (h itself, or the first element
    of a tuple such as the ConvLSTM's ``(h, c)``); None stays None."""
    return state[0] if isinstance(state, tuple) else state


def pool_hidden(state, stride: int):
    """Average-pool the hidden state by ``stride`` (Sec. 3.3, guideline 3);
    every element of a tuple state (the ConvLSTM's c too, as the authors'
    code pools it).

    ``ceil_mode`` makes the result ceil(H / stride) x ceil(W / stride), the
    size that a stride-s conv with 'same' padding gives, so h keeps matching
    x on odd inputs (the authors' ``AvgPool2d(2, 2)`` floors and breaks
    there; on even sizes both are identical). ``None`` (h = 0) stays None.
    """
    if stride == 1 or state is None:
        return state
    if isinstance(state, tuple):
        return tuple(pool_hidden(s, stride) for s in state)
    return F.avg_pool2d(
        state, stride, stride, ceil_mode=True, count_include_pad=False)


def tanh_(z: Tensor, fast: bool = False) -> Tensor:
    """tanh of Eq. (11), in place on z.

    With ``fast`` in eager CPU inference (no autograd, not compiling or
    exporting) it is computed as ``2 sigmoid(2z) - 1``: the same function,
    within 2e-7 in float32, in four vectorised passes that together take
    less time than torch's CPU tanh kernel (docs/speed.md). Training,
    torch.compile and ONNX export get ``torch.tanh_`` itself.
    """
    if fast and z.device.type == 'cpu' and not torch.is_grad_enabled() \
            and not in_graph_capture():
        return torch.sigmoid_(z.mul_(2)).mul_(2).sub_(1)
    return torch.tanh_(z)


class RLAUnit(BaseModule):
    """Eq. (11) of one stage, the ``'rnn'`` cell: the projection, one norm
    per update and the recurrent conv. Base class of the other cells
    (``rla_cells.py``), which override :meth:`update` (and
    :meth:`_build_recurrent` when their recurrent part is not one conv).

    With ``update='pre'`` (Eq. (11), the proposed RLA-v1 and v3/v5 of
    Fig. 4) ``h_j = W3(tanh(BN_j(h_{j-1} + W1 y_j)))``; with ``'post'``
    (v2/v4/v6) ``h_j = W3(tanh(BN_j(h_{j-1}))) + W1 y_j``, computed on
    h = 0 too (a learned constant with zero-padding borders, not zero).

    Args:
        in_channels (int): Channels of y (the stage's block features).
        rla_channel (int): k, the channels of the hidden state h.
        num_updates (int): Number of h updates in the stage (one norm each):
            the number of blocks, or one fewer when the last update feeds
            nothing (a detection backbone's last stage).
        conv_cfg (dict, optional): Config of the convs.
        norm_cfg (dict): Config of the per-update norms (BN, SyncBN, GN...).
        recurrent_groups (int): Groups of the recurrent conv; ``rla_channel``
            makes it depthwise (RLA-MobileNetV2, App. B.2.1).
        shared_recurrent_conv (nn.Module, optional): Use this recurrent conv,
            owned (and saved in the state dict) by the backbone, instead of
            building one: RLA-MobileNetV2 shares one per resolution stage
            across groups of different widths.
        update (str): ``'pre'`` (default) or ``'post'``, see above.
        shared (bool): One projection and one recurrent conv for all the
            updates of the stage (default, the paper's RLA); False builds
            one of each per update (``conv_outs.j``, ``recurrent_convs.j``;
            Table 11 (b), "RLA without parameter sharing").

    Example:
        >>> unit = RLAUnit(256, 32, num_updates=3)
        >>> h = torch.zeros(2, 32, 14, 14)
        >>> unit(h, torch.rand(2, 256, 14, 14), 0).shape
        torch.Size([2, 32, 14, 14])
    """

    #: The classification head reads ``act(BN(h))`` (``hidden_norm``); the
    #: authors' post-activated and gated cells feed h to it as it is.
    head_norm = True
    #: The update positions this cell defines.
    updates = RLA_UPDATES
    #: Whether the cell can have one recurrent part per update.
    unsharable = True

    def __init__(self,
                 in_channels: int,
                 rla_channel: int,
                 num_updates: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 recurrent_groups: int = 1,
                 shared_recurrent_conv: Optional[nn.Module] = None,
                 update: str = 'pre',
                 shared: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        name = type(self).__name__
        if update not in self.updates:
            raise ValueError(f'`update` of {name} must be one of '
                             f'{self.updates}, got {update!r}')
        check_choice('shared', shared, (True, False))
        if not shared and not self.unsharable:
            raise ValueError(f'{name} has one recurrent cell per stage: '
                             '`shared=False` (Table 11 (b)) is defined for '
                             "the 'rnn' and 'postact' cells")
        if not shared and shared_recurrent_conv is not None:
            raise ValueError('`shared_recurrent_conv` needs `shared=True`')
        self.post = update == 'post'
        self.shared = shared
        projections = [
            build_conv_layer(
                conv_cfg, in_channels, rla_channel, kernel_size=1,
                bias=False) for _ in range(1 if shared else num_updates)
        ]
        if shared:
            self.conv_out = projections[0]
        else:
            self.conv_outs = nn.ModuleList(projections)
        self.norms = nn.ModuleList(
            build_norm_layer(norm_cfg, rla_channel)[1]
            for _ in range(num_updates))
        if shared_recurrent_conv is None:
            self._build_recurrent(rla_channel, conv_cfg, recurrent_groups,
                                  1 if shared else num_updates)
        else:
            # A plain attribute, not a submodule: the owner saves, moves and
            # freezes it once, and this unit's state dict stays its own.
            object.__setattr__(self, 'recurrent_conv', shared_recurrent_conv)

    def _build_recurrent(self, k: int, conv_cfg: Optional[dict],
                         groups: int, copies: int) -> None:
        """Build the recurrent part: here the 3x3 conv k -> k of Eq. (11),
        ``recurrent_conv`` (or ``copies`` of them, ``recurrent_convs``)."""
        convs = [
            build_conv_layer(
                conv_cfg, k, k, kernel_size=3, padding=1, groups=groups,
                bias=False) for _ in range(copies)
        ]
        if copies == 1:
            self.recurrent_conv = convs[0]
        else:
            self.recurrent_convs = nn.ModuleList(convs)

    def projection(self, index: int) -> nn.Module:
        """W1 of update ``index`` (``conv_out``, y -> k)."""
        return self.conv_out if self.shared else self.conv_outs[index]

    def recurrent(self, index: int) -> nn.Module:
        """W3 of update ``index`` (``recurrent_conv``, k -> k)."""
        return self.recurrent_conv if self.shared \
            else self.recurrent_convs[index]

    def forward(self, state, y: Tensor, index: int, fast: bool = False):
        """Return the state after update ``index`` with feature y (None:
        h = 0); ``fast`` as in :meth:`update`."""
        return self.update(state, self.projection(index)(y), index,
                           fast=fast)

    def update(self,
               state,
               projected_y: Tensor,
               index: int,
               inplace: bool = True,
               fast: bool = False):
        """The update given ``projected_y = W1(y)``; returns the new state.

        ``inplace=False`` when ``projected_y`` is a view of a GEMM output
        that another consumer still reads. ``fast``: the stage runs the CPU
        fast path: tanh as in :func:`tanh_`, and the recurrent conv (so the
        returned h) channels-last; float rounding may differ.
        """
        h = state
        if self.post:  # W3(tanh(BN(h))) + W1 y, on h = 0 too
            if h is None:
                h = projected_y.new_zeros(projected_y.shape)
            t = tanh_(self.norms[index](h), fast)
            return self._recurrent_conv(t, index, fast).add_(projected_y)
        # In place on fresh tensors: neither conv nor norm backward reads its
        # own output, and tanh_ keeps the output that tanh backward needs.
        # IEEE addition is commutative, so `y + h` equals `h + y` bit for bit.
        if h is not None:
            # h first: the sum takes h's memory layout (channels-last on
            # the fast path, below)
            projected_y = projected_y.add_(h) if inplace and not fast \
                else h + projected_y
        t = tanh_(self.norms[index](projected_y), fast)
        return self._recurrent_conv(t, index, fast)

    def _recurrent_conv(self, t: Tensor, index: int, fast: bool) -> Tensor:
        if fast:
            # With k = 32 channels mkldnn's 3x3 conv is faster channels-last
            # (no reorder of its NCHW input; docs/speed.md), and h, its
            # output, then stays channels-last: the consumers on this path
            # (baddbmm, pooling, cat) read it as it is.
            t = t.contiguous(memory_format=torch.channels_last)
        return self.recurrent(index)(t)


class PendingUpdate(NamedTuple):
    """Update ``index`` of ``unit`` with y = the current x, not yet applied
    (see the module docstring)."""
    unit: RLAUnit
    index: int


def apply_pending_update(pending: Optional[PendingUpdate],
                         h,
                         x: Tensor,
                         conv1: Optional[nn.Module] = None) -> tuple:
    """Finish a pending update of the state h with y = x; return
    ``(h, conv1_x)``.

    ``conv1``: the consumer's first conv if it reads ``cat(x, h)``. When it
    and the projection are plain 1x1 convs, both run as one GEMM and
    ``conv1_x`` is the x half of ``conv1(cat(x, h))``; otherwise it is None.
    """
    if pending is None:
        return h, None
    unit, index = pending
    projection = unit.projection(index)
    if conv1 is None or not (is_plain_1x1(conv1)
                             and is_plain_1x1(projection)):
        return unit(h, x, index, fast=True), None
    conv1_x, projected_y = conv1_x_and_projection(x, conv1, projection)
    return unit.update(
        h, projected_y, index, inplace=False, fast=True), conv1_x


def concat_hidden(x: Tensor, state, norm: Optional[nn.Module],
                  act=F.relu) -> Tensor:
    """The classification output ``cat(x, act(norm(h)))`` (Sec. 3.3, item 4
    of the guidelines: the last hidden state joins the last features);
    ``cat(x, h)`` when ``norm`` is None (cells without a head norm)."""
    h = hidden_of(state)
    return torch.cat([x, h if norm is None else act(norm(h))], dim=1)


class RLALayer(BaseModule):
    """One RLA stage: blocks ``0 .. n-1`` and the stage's :class:`RLAUnit`.

    A block is called as ``block(x, h, conv1_x, path)`` and returns
    ``(out, y)``, y being the feature of the RLA update; it has a ``stride``
    and, if its first conv reads ``cat(x, h)`` directly (so that the conv's x
    half can share a GEMM with a pending projection), ``cat_conv1`` names
    that conv (else ``cat_conv1`` is None). See ``RLABlockMixin``.

    Args:
        blocks (Sequence[nn.Module]): The stage's blocks.
        unit (RLAUnit, optional): The stage's RLA unit, None when the stage
            makes no update.
        num_updates (int): Blocks ``0 .. num_updates-1`` update h.
        with_cp (bool): Checkpoint each block with its h update
            (non-reentrant, because the unit is shared by the blocks).
        recompute_cat (bool): On the concatenation path, keep x and h rather
            than ``cat(x, h)`` for conv1's backward (``conv_on_cat``; same
            bits, less memory). Checkpointed blocks (``with_cp``) run the
            plain op: recomputation already frees what it saves.
        split_conv1 (bool | str): How blocks compute ``conv1(cat(x, h))``:
            True splits it into ``conv1_x(x) + conv1_h(h)`` and defers the
            updates whose y is the next block's input (module docstring);
            False keeps the concatenation, the authors' op order; 'auto'
            splits on CPU tensors only.

    Example:
        >>> from rla_mm.models.layers import RLABottleneck
        >>> blocks = [RLABottleneck(64, 16, rla_channel=8) for _ in range(2)]
        >>> layer = RLALayer(blocks, RLAUnit(64, 8, 2), num_updates=2)
        >>> x, h, pending = layer(torch.rand(1, 64, 8, 8), None)
        >>> x.shape, h.shape
        (torch.Size([1, 64, 8, 8]), torch.Size([1, 8, 8, 8]))
    """

    def __init__(self,
                 blocks: Sequence[nn.Module],
                 unit: Optional[RLAUnit],
                 num_updates: int,
                 with_cp: bool = False,
                 split_conv1: Union[bool, str] = 'auto',
                 recompute_cat: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        check_split_conv1(split_conv1)
        for i, block in enumerate(blocks):
            self.add_module(str(i), block)
        self.num_blocks = len(blocks)
        self.num_updates = num_updates
        self.rla = unit
        self.with_cp = with_cp
        self.split_conv1 = split_conv1
        self.recompute_cat = recompute_cat

    def __getitem__(self, index: int) -> nn.Module:
        if not -self.num_blocks <= index < self.num_blocks:
            raise IndexError(f'block index {index} out of range for a stage '
                             f'of {self.num_blocks} blocks')
        return self._modules[str(index % self.num_blocks)]

    def __len__(self) -> int:
        return self.num_blocks

    def __iter__(self):
        """The blocks (not the unit), as iterating mmdet's ResLayer gives."""
        return (self[i] for i in range(self.num_blocks))

    def _step(self, index: int, x: Tensor, state,
              pending: Optional[PendingUpdate], path: str) -> tuple:
        """Block ``index`` and its update: ``(x, state, pending)``."""
        block = self[index]
        split = path == 'split'
        state, conv1_x = apply_pending_update(
            pending, state, x, block.cat_conv1 if split else None)
        x, y = block(x, hidden_of(state), conv1_x, path)
        state = pool_hidden(state, block.stride)
        if index >= self.num_updates:
            return x, state, None
        if split and y is x:  # the update with y = the next block's input
            return x, state, PendingUpdate(self.rla, index)
        return x, self.rla(state, y, index, fast=split), None

    def forward(self,
                x: Tensor,
                state,
                pending: Optional[PendingUpdate] = None) -> tuple:
        """Run the stage on x and the RLA state (None: h = 0) and a pending
        update of the previous stage; return ``(x, state, pending)`` for the
        next stage."""
        with_cp = self.with_cp and torch.is_grad_enabled()
        if uses_split_conv1(self.split_conv1, x):
            path = 'split'
        elif self.recompute_cat and not with_cp:
            path = 'cat_recompute'
        else:
            path = 'cat'
        for i in range(self.num_blocks):
            if with_cp:
                x, state, pending = checkpoint(
                    self._step, i, x, state, pending, path,
                    use_reentrant=False)
            else:
                x, state, pending = self._step(i, x, state, pending, path)
        return x, state, pending


class RLABlockMixin:
    """What :class:`RLALayer` needs from an RLA block besides
    ``forward(x, h, conv1_x=None, path='cat_recompute') -> (out, y)`` and
    ``stride``: ``cat_conv1``, the first conv if it reads ``cat(x, h)``
    directly (post-activation ResNet blocks), else None (pre-activation or
    inverted residual blocks, where a norm or a conv comes first)."""

    @property
    def cat_conv1(self) -> Optional[nn.Module]:
        return None
