"""The RLA ablation cells (RLA paper: Zhao, Fang and Li, *Recurrence along
Depth: Deep Convolutional Neural Networks with Recurrent Layer Aggregation*,
NeurIPS 2021, arXiv:2110.11852; Sec. 4.4, Table 11 (d), (e), App. B.4).

Each cell is a subclass of :class:`~rla_mm.models.layers.rla.RLAUnit` (the
``'rnn'`` cell of Eq. (11)) with the same interface: the projection
``W1 = conv_out`` (y -> k) and one BN per update, ``update(state,
projected_y, index)`` returning the new state. What each computes follows the
authors' files in ``fangyanwen1106/RLANet`` (``models/resnet_rla_v1post.py``,
``resnet_rla_lstm.py`` with ``convlstm_unfolded.py``, ``resnet_rla_gru.py``
with ``convgru_unfolded.py``). With u_j = tanh(BN_j(W1 y_j)) the input of the
gated cells, and ĥ the (pooled) previous state:

- ``'postact'`` (Table 11 (e), App. B.4 Fig. 7, "Conv-BN-tanh"):
  ``h_j = tanh(BN_j(W3(ĥ + W1 y_j)))``;
- ``'convlstm'`` (Table 11 (d)): ``[i, f, o, g] = G(cat(u_j, ĥ))`` (one 3x3
  conv 2k -> 4k without bias, chunks in that order), ``c_j = σ(f) ĉ +
  σ(i) tanh(g)``, ``h_j = σ(o) tanh(c_j)``; the state is ``(h, c)`` and c is
  pooled like h. App. B.4 calls it "exactly Keras' ConvLSTM2DCell"; the
  authors' cell has no bias and the logistic σ (Keras of the time: a bias
  and a hard sigmoid), and one conv of the concatenation equals Keras's two
  summed convs;
- ``'convgru'`` (in the authors' code, in neither table):
  ``[r, z] = σ(GN(A(cat(u_j, ĥ))))`` (3x3 conv 2k -> 2k with bias, one
  GroupNorm(1, k, eps 1e-6) per gate), ``n = tanh(GN(B(cat(u_j, r ĥ))))``
  (3x3 conv 2k -> k with bias), ``h_j = z ĥ + (1 - z) n``.

None of them has the head norm: the classifier reads ``cat(x, h)``.
"""
from typing import Optional

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor

from .rla import RLAUnit


def _zeros_state(projected_y: Tensor) -> Tensor:
    return projected_y.new_zeros(projected_y.shape)


class RLAPostActUnit(RLAUnit):
    """Post-activated RLA (Table 11 (e)): ``h = tanh(BN(W3(ĥ + W1 y)))``.

    Same parameters and state dict keys as :class:`RLAUnit` (no head norm in
    the network). Args: as :class:`RLAUnit` (``update='pre'`` only).

    Example:
        >>> unit = RLAPostActUnit(64, 8, num_updates=2)
        >>> unit(None, torch.rand(1, 64, 5, 5), 0).abs().max() <= 1
        tensor(True)
    """
    head_norm = False
    updates = ('pre', )

    def update(self, state, projected_y, index, inplace=True, fast=False):
        z = projected_y if state is None else state + projected_y
        return torch.tanh(self.norms[index](self.recurrent(index)(z)))


class RLAConvLSTMUnit(RLAUnit):
    """ConvLSTM RLA (Table 11 (d)); the state is ``(h, c)``.

    ``gate_conv``: 3x3, 2k -> 4k, no bias (input channels u then h; output
    chunks i, f, o, g). Args: as :class:`RLAUnit` (``update='pre'``,
    ``shared=True`` only).

    Example:
        >>> unit = RLAConvLSTMUnit(64, 8, num_updates=2)
        >>> h, c = unit(None, torch.rand(1, 64, 5, 5), 0)
        >>> h.shape, c.shape
        (torch.Size([1, 8, 5, 5]), torch.Size([1, 8, 5, 5]))
    """
    head_norm = False
    updates = ('pre', )
    unsharable = False

    def _build_recurrent(self, k: int, conv_cfg: Optional[dict], groups: int,
                         copies: int) -> None:
        self.gate_conv = build_conv_layer(
            conv_cfg, 2 * k, 4 * k, 3, padding=1, groups=groups, bias=False)

    def update(self, state, projected_y, index, inplace=True, fast=False):
        u = torch.tanh(self.norms[index](projected_y))
        h, c = (_zeros_state(u), ) * 2 if state is None else state
        i, f, o, g = self.gate_conv(torch.cat([u, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class RLAConvGRUUnit(RLAUnit):
    """ConvGRU RLA (the authors' ``resnet_rla_gru.py``; in neither table).

    ``gate_conv`` (3x3, 2k -> 2k, bias; chunks r, z), ``reset_gate_norm``,
    ``update_gate_norm``, ``output_conv`` (3x3, 2k -> k, bias),
    ``output_norm``: GroupNorm(1, k, eps 1e-6), the authors' choice, whatever
    ``norm_cfg`` is. Args: as :class:`RLAUnit` (``update='pre'``,
    ``shared=True`` only).

    Example:
        >>> unit = RLAConvGRUUnit(64, 8, num_updates=2)
        >>> unit(None, torch.rand(1, 64, 5, 5), 0).shape
        torch.Size([1, 8, 5, 5])
    """
    head_norm = False
    updates = ('pre', )
    unsharable = False
    gate_norm_cfg = dict(type='GN', num_groups=1, eps=1e-6)

    def _build_recurrent(self, k: int, conv_cfg: Optional[dict], groups: int,
                         copies: int) -> None:
        self.gate_conv = build_conv_layer(
            conv_cfg, 2 * k, 2 * k, 3, padding=1, groups=groups, bias=True)
        for name in ('reset_gate_norm', 'update_gate_norm'):
            self.add_module(name, build_norm_layer(self.gate_norm_cfg, k)[1])
        self.output_conv = build_conv_layer(
            conv_cfg, 2 * k, k, 3, padding=1, groups=groups, bias=True)
        self.output_norm = build_norm_layer(self.gate_norm_cfg, k)[1]

    def update(self, state, projected_y, index, inplace=True, fast=False):
        u = torch.tanh(self.norms[index](projected_y))
        h = _zeros_state(u) if state is None else state
        r, z = self.gate_conv(torch.cat([u, h], 1)).chunk(2, 1)
        r = torch.sigmoid(self.reset_gate_norm(r))
        z = torch.sigmoid(self.update_gate_norm(z))
        n = torch.tanh(
            self.output_norm(self.output_conv(torch.cat([u, r * h], 1))))
        return z * h + (1 - z) * n


#: name -> cell class (``rla_cell`` of the RLA backbones).
RLA_CELLS = {
    'rnn': RLAUnit,
    'postact': RLAPostActUnit,
    'convlstm': RLAConvLSTMUnit,
    'convgru': RLAConvGRUUnit,
}


def rla_cell_class(cell: str) -> type:
    """The unit class of ``cell`` (one of ``RLA_CELLS``), or a named
    ValueError."""
    if cell not in RLA_CELLS:
        raise ValueError(f'`rla_cell` must be one of {tuple(RLA_CELLS)}, '
                         f'got {cell!r}')
    return RLA_CELLS[cell]


def build_rla_unit(cell: str, *args, **kwargs) -> RLAUnit:
    """Build the RLA unit of ``cell`` (``RLAUnit``'s arguments)."""
    return rla_cell_class(cell)(*args, **kwargs)
