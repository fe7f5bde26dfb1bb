"""MRLA-light, the light-weighted multi-head recurrent layer attention.

Fang, Cai, Chen, Zhao, Tian, Li: "Cross-Layer Retrospective Retrieving via
Layer Attention", ICLR 2023 (arXiv:2302.03985), Sec. 3 Eq. (8): block t with
output X^t (C channels in n_h heads of d = C / n_h channels) computes

    O^t = lambda^t (.) O^{t-1} + Concat_h[ a_h^t * V_h^t ],

with q^t, k^t from global average pooling of X^t followed by a 1-D conv
across the channel vector (as in ECA-Net), a_h^t = sigmoid(q_h^t . k_h^t /
sqrt(d)) one scalar per head and image (a single key per head, so a softmax
would always give 1), V^t a depthwise 3x3 conv of X^t and lambda^t in R^C
learnable. The block then returns X^t + DropPath(BN(O^t)), with no ReLU
after the addition.

Where the authors' code differs from Eq. (8): it carries no state from block
to block. The tensor it uses as O^{t-1} is the block's own shortcut (the
block input, or its projection in a stage's first block); that is what their
ImageNet and COCO numbers come from, so it is the default here. The brick
takes ``prev`` as an argument and leaves that choice to the caller
(``MRLAResNet(recurrence=...)``).
"""
import math
from typing import Tuple, Union

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from torch import Tensor, nn

from ..utils import check_int

#: What a block uses as O^{t-1}: 'shortcut' (the authors' code: the block's
#: shortcut) or 'carried' (Eq. 8 as written: O of the previous block).
MRLA_RECURRENCES = ('shortcut', 'carried')


def mrla_kernel_size(channels: int) -> int:
    """ECA-Net's adaptive kernel for the Q/K convs, as the authors use it:
    t = int(|(log2 C + 1) / 2|), k = t if t is odd else t + 1 (no lower
    bound: 5, 5, 5, 7 for C = 256, 512, 1024, 2048; 3 for C = 16)."""
    t = int(abs((math.log2(channels) + 1) / 2))
    return t if t % 2 else t + 1


class MRLALight(nn.Module):
    """One MRLA-light step (Eq. 8) on a block output, with BN and DropPath.

    ``forward(x, prev)`` returns ``(x + DropPath(norm(o)), o)`` where
    ``o = a * V(x) + lambda (.) prev`` is O^t, which a caller may carry to
    the next block (the paper) or drop (the authors' code, which passes the
    block's shortcut as ``prev``).

    Parameters: ``query_conv`` and ``key_conv`` (k each), ``value_conv``
    (9C), ``lambda_t`` (C) and the norm's affine (2C): 12C + 2k with BN.

    Args:
        channels (int): C, channels of the block output.
        head_dim (int): d, channels per head (the authors: 32). Must divide
            ``channels``; narrow models need a smaller d (C = 64 with d = 32
            gives 2 heads).
        kernel_size (int, optional): Kernel of the Q/K channel convs (odd);
            None: :func:`mrla_kernel_size` of ``channels``.
        drop_path_rate (float): DropPath on the MRLA branch (the authors
            train ImageNet models with 0.2 and detectors with 0).
        norm_cfg (dict): The norm after O (the authors' ``bn_mrla``).
        lambda_init (str | float): ``'normal'``: lambda ~ N(0, 1) per
            channel at construction, as the authors; a number: that constant
            (a deterministic start).

    Example:
        >>> brick = MRLALight(64, head_dim=16)
        >>> x, shortcut = torch.rand(2, 64, 9, 7), torch.rand(2, 64, 9, 7)
        >>> out, o = brick(x, shortcut)
        >>> out.shape, o.shape, brick.head_gates(x).shape
        (torch.Size([2, 64, 9, 7]), torch.Size([2, 64, 9, 7]), \
torch.Size([2, 4]))
    """

    def __init__(self,
                 channels: int,
                 head_dim: int = 32,
                 kernel_size: Union[int, None] = None,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 lambda_init: Union[str, float] = 'normal') -> None:
        super().__init__()
        check_int('channels', channels)
        check_int('head_dim', head_dim)
        if channels % head_dim:
            raise ValueError(
                f'`head_dim` must divide the {channels} channels of the '
                f'MRLA-light brick (one head = head_dim channels), got '
                f'head_dim={head_dim}')
        if kernel_size is None:
            kernel_size = mrla_kernel_size(channels)
        check_int('kernel_size', kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f'`kernel_size` must be a positive odd int, got '
                             f'{kernel_size!r}')
        if isinstance(drop_path_rate, bool) or not isinstance(
                drop_path_rate, (int, float)) or not 0 <= drop_path_rate < 1:
            raise ValueError(f'`drop_path_rate` must be a float in [0, 1), '
                             f'got {drop_path_rate!r}')
        normal = isinstance(lambda_init, str) and lambda_init == 'normal'
        if not normal and (isinstance(lambda_init, (str, bool))
                           or not isinstance(lambda_init, (int, float))):
            raise ValueError(f"`lambda_init` must be 'normal' or a number, "
                             f'got {lambda_init!r}')
        self.channels = channels
        self.head_dim = head_dim
        self.num_heads = channels // head_dim
        self.scale = head_dim**-0.5
        pad = (kernel_size - 1) // 2
        self.query_conv = nn.Conv1d(1, 1, kernel_size, padding=pad,
                                    bias=False)
        self.key_conv = nn.Conv1d(1, 1, kernel_size, padding=pad, bias=False)
        # V keeps dilation 1 in dilated stages, as in the authors' code
        self.value_conv = nn.Conv2d(
            channels, channels, 3, padding=1, groups=channels, bias=False)
        self.lambda_t = nn.Parameter(
            torch.randn(channels, 1, 1) if normal else torch.full(
                (channels, 1, 1), float(lambda_init)))
        self.norm_name, norm = build_norm_layer(norm_cfg, channels)
        self.add_module(self.norm_name, norm)
        self.drop_path = DropPath(float(drop_path_rate))

    @property
    def norm(self) -> nn.Module:
        return getattr(self, self.norm_name)

    def head_gates(self, x: Tensor) -> Tensor:
        """a_h = sigmoid(sum_{j in head h} Q_j K_j / sqrt(d)), [N, n_h].

        Q and K are 1-D convs over the whole pooled C-vector, so they slide
        across head boundaries (the authors' code)."""
        pooled = x.mean((2, 3)).unsqueeze(1)  # [N, 1, C]
        qk = self.query_conv(pooled) * self.key_conv(pooled)
        scores = qk.view(-1, self.num_heads, self.head_dim).sum(-1)
        return torch.sigmoid(scores * self.scale)

    def forward(self, x: Tensor, prev: Tensor) -> Tuple[Tensor, Tensor]:
        """x: the block output X^t; prev: what stands for O^{t-1} (same
        shape). Returns (X^t + DropPath(norm(O^t)), O^t)."""
        gates = self.head_gates(x)  # [N, n_h]
        # one gate per head, repeated over the head's d channels
        gates = gates.unsqueeze(-1).expand(-1, -1, self.head_dim).reshape(
            -1, self.channels, 1, 1)
        o = self.value_conv(x) * gates + self.lambda_t * prev
        return x + self.drop_path(self.norm(o)), o
