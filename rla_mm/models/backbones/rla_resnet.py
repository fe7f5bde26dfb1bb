"""RLA-ResNet and RLA-ECANet (RLA paper, Sec. 3.3, Sec. 4.2, App. B.2, Table 10).

Built on mmdet's ``ResNet`` (stem, ``frozen_stages``, ``norm_eval``, init) the
way mmdet's ``ResNeXt``/``Res2Net`` are: only the blocks, the stages and the
forward differ. The hidden state h (k = ``rla_channel`` channels) starts as
zeros at the stem output's resolution and runs through all stages.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.models.backbones import ResNet
from torch import Tensor

from ...registry import MODELS
from ..layers import (RLA_SOURCES, RLABasicBlock, RLABottleneck, RLAResLayer,
                      check_split_conv1)


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f'`{name}` must be one of {tuple(allowed)}, got {value!r}')


@MODELS.register_module()
class RLAResNet(ResNet):
    """ResNet with recurrent layer aggregation (RLA-ResNet-18/34/50/101/152).

    Per stage one shared 1x1 conv (stage channels -> k), one shared 3x3
    recurrent conv (k -> k) and one BN per block update h as in Eq. (11); each
    block reads ``cat(x, h)`` in its first conv (Fig. 3).

    Args:
        depth (int): 18, 34 (BasicBlock; h enters the first 3x3 conv), 50, 101
            or 152 (Bottleneck; h enters conv1).
        rla_channel (int): k, channels of the hidden state. Default 32
            (paper: DenseNet's growth rate on ImageNet).
        eca_kernel_sizes (Sequence[int], optional): One ECA kernel per stage;
            ECA then follows the last BN of every residual branch (RLA-ECANet).
        rla_source (str): Which feature updates h. ``'output'`` (default) is
            the authors' code, ``h <- g(BN(h + conv1x1(ReLU(residual +
            identity))))``, which produced their released weights and the
            paper's numbers; ``'residual'`` uses the residual branch as the
            paper's text describes. See ``RLABasicBlock``.
        concat_hidden (bool): If True (classification, Sec. 3.3 item 4), the
            last stage's output is ``cat(x, ReLU(BN(h)))`` with 2048 + k
            channels for depth >= 50. If False (detection) stage outputs are
            returned as they are, and the last stage's final h update, which
            would feed nothing, is not built.
        split_conv1 (bool | str): Compute each block's conv1 on x and h
            separately instead of on ``cat(x, h)`` and share one GEMM between
            the RLA projection and the next conv1 (see ``RLAResLayer``): same
            maths and state dict, other float rounding. ``'auto'`` (default):
            on CPU tensors, where it was measured faster (docs/speed.md);
            elsewhere (CUDA, not measured yet) the concatenation, bit for bit
            the op order of ``tests/reference_rla.py`` and the authors' code.
            True / False force either path.
        groups (int), base_width (int): ResNeXt-style grouped 3x3 convs.
        norm_eval (bool): Keep BNs (RLA's included) in eval mode while
            training. Default False; detection configs set True.
        Others: as mmdet's ``ResNet`` (``in_channels, stem_channels,
            base_channels, num_stages, strides, dilations, out_indices, style,
            deep_stem, avg_down, frozen_stages, conv_cfg, norm_cfg, with_cp,
            zero_init_residual, init_cfg``). ``frozen_stages=n`` freezes the
            stem and stages 1..n including their RLA convs and BNs; ``norm_cfg``
            builds the RLA BNs too (SyncBN, GN); ``with_cp`` checkpoints each
            block with its RLA update.

    Example:
        >>> model = RLAResNet(depth=18, out_indices=(0, 1, 2, 3))
        >>> outs = model(torch.rand(1, 3, 97, 131))
        >>> [tuple(o.shape) for o in outs]
        [(1, 64, 25, 33), (1, 128, 13, 17), (1, 256, 7, 9), (1, 512, 4, 5)]
    """

    arch_settings = {
        18: (RLABasicBlock, (2, 2, 2, 2)),
        34: (RLABasicBlock, (3, 4, 6, 3)),
        50: (RLABottleneck, (3, 4, 6, 3)),
        101: (RLABottleneck, (3, 4, 23, 3)),
        152: (RLABottleneck, (3, 8, 36, 3))
    }

    def __init__(self,
                 depth: int,
                 rla_channel: int = 32,
                 eca_kernel_sizes: Optional[Sequence[int]] = None,
                 rla_source: str = 'output',
                 concat_hidden: bool = False,
                 split_conv1: Union[bool, str] = 'auto',
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 groups: int = 1,
                 base_width: int = 4,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 init_cfg=None) -> None:
        if depth not in self.arch_settings:
            raise KeyError(f'invalid `depth` {depth!r} for {type(self).__name__}'
                           f', allowed: {tuple(self.arch_settings)}')
        if not isinstance(rla_channel, int) or rla_channel < 1:
            raise ValueError(
                f'`rla_channel` must be an int >= 1, got {rla_channel!r}')
        _check_choice('rla_source', rla_source, RLA_SOURCES)
        _check_choice('style', style, ('pytorch', 'caffe'))
        check_split_conv1(split_conv1)
        _check_choice('num_stages', num_stages, (1, 2, 3, 4))
        for name, seq in (('strides', strides), ('dilations', dilations)):
            if len(seq) != num_stages:
                raise ValueError(f'`{name}` must have num_stages={num_stages} '
                                 f'entries, got {tuple(seq)}')
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_stages
                                  for i in out_indices):
            raise ValueError(f'`out_indices` must be a non-empty subset of '
                             f'{tuple(range(num_stages))}, got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'`frozen_stages` must be in [-1, {num_stages}], '
                             f'got {frozen_stages!r}')
        if eca_kernel_sizes is not None:
            eca_kernel_sizes = tuple(eca_kernel_sizes)
            if len(eca_kernel_sizes) != num_stages or any(
                    not isinstance(k, int) or k < 1 or k % 2 == 0
                    for k in eca_kernel_sizes):
                raise ValueError(
                    f'`eca_kernel_sizes` must hold num_stages={num_stages} '
                    f'positive odd ints, got {eca_kernel_sizes}')
        if concat_hidden and num_stages - 1 not in out_indices:
            raise ValueError('`concat_hidden=True` concatenates h to the last '
                             f'stage, so `out_indices` must contain '
                             f'{num_stages - 1}, got {out_indices}')
        if groups != 1 and self.arch_settings[depth][0] is not RLABottleneck:
            raise ValueError(f'`groups` > 1 (ResNeXt) needs depth >= 50, got '
                             f'depth={depth}')
        # Read by make_res_layer(), which ResNet.__init__ calls.
        self.rla_channel = rla_channel
        self.eca_kernel_sizes = eca_kernel_sizes
        self.rla_source = rla_source
        self.concat_hidden = concat_hidden
        self.split_conv1 = split_conv1
        self.groups = groups
        self.base_width = base_width
        self._user_init_cfg = init_cfg
        super().__init__(
            depth=depth,
            in_channels=in_channels,
            stem_channels=stem_channels,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            style=style,
            deep_stem=deep_stem,
            avg_down=avg_down,
            frozen_stages=frozen_stages,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg)
        if concat_hidden:
            self.hidden_norm = build_norm_layer(norm_cfg, rla_channel)[1]
            self.feat_dim += rla_channel

    def make_res_layer(self, block, with_cp, dcn, plugins, init_cfg,
                       **kwargs) -> RLAResLayer:
        """Build stage ``len(self.res_layers)`` (called by ResNet.__init__)."""
        stage = len(self.res_layers)
        if self._user_init_cfg is None and self.zero_init_residual:
            # mmdet's ResNet only knows its own block classes here.
            last_norm = 'norm3' if block is RLABottleneck else 'norm2'
            init_cfg = dict(
                type='Constant', val=0, override=dict(name=last_norm))
        return RLAResLayer(
            block=block,
            rla_channels=self.rla_channel,
            update_last=self.concat_hidden or stage < self.num_stages - 1,
            with_cp=with_cp,
            eca_kernel_size=(self.eca_kernel_sizes[stage]
                             if self.eca_kernel_sizes else None),
            rla_source=self.rla_source,
            split_conv1=self.split_conv1,
            groups=self.groups,
            base_width=self.base_width,
            base_channels=self.base_channels,
            init_cfg=init_cfg,
            **kwargs)

    def train(self, mode: bool = True) -> 'RLAResNet':
        """Freeze stages / set norms to eval as ResNet does, returning self
        (mmdet's ``ResNet.train`` returns None, which breaks ``.eval()``
        chaining)."""
        super().train(mode)
        return self

    def forward(self, x: Tensor) -> tuple:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        h = None  # h = 0 (Sec. 3.3): the first block skips its zero half
        outs, x_part = [], None
        for i, layer_name in enumerate(self.res_layers):
            layer = getattr(self, layer_name)
            if i + 1 < len(self.res_layers) and not self.with_cp:
                # the stage's last RLA projection and the next stage's
                # first conv1 read the same x: one GEMM (split_conv1)
                next_block = getattr(self, self.res_layers[i + 1])[0]
                x, h, x_part = layer(x, h, x_part, next_block)
            else:
                x, h = layer(x, h, x_part)
            if i in self.out_indices:
                if self.concat_hidden and i == self.num_stages - 1:
                    x = torch.cat([x, F.relu(self.hidden_norm(h))], dim=1)
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class RLAECAResNet(RLAResNet):
    """RLA-ECANet: RLA-ResNet with ECA after the last BN of each block.

    Same as ``RLAResNet`` with ``eca_kernel_sizes=(5, 5, 5, 7)`` by default,
    the per-stage ECA kernels of the authors' released RLA-ECANet weights.
    The ECA output is what the RLA 1x1 conv reads (paper Sec. 4.2) when
    ``rla_source='residual'``.
    """

    def __init__(self,
                 depth: int,
                 eca_kernel_sizes: Sequence[int] = (5, 5, 5, 7),
                 **kwargs) -> None:
        super().__init__(depth, eca_kernel_sizes=eca_kernel_sizes, **kwargs)
