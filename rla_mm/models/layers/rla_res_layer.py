"""RLA-ResNet blocks and stage (RLA paper: Zhao, Fang and Li, *Recurrence
along Depth: Deep Convolutional Neural Networks with Recurrent Layer
Aggregation*, NeurIPS 2021, arXiv:2110.11852, Sec. 3.3 and Fig. 3).

An RLA block is mmdet's ``BasicBlock`` / ``Bottleneck`` (ResNeXt's, for
``groups``) whose first conv reads ``cat(x, h)`` (k more input channels) and
which also returns the feature y that the stage's RLA unit adds to h. So
everything mmdet's blocks offer comes with them: ``style``, ``dilation``,
DCN on the 3x3 conv and plugins after conv1/2/3 (Bottleneck, as in mmdet).
Which feature y is differs between the paper's text and the authors' code
(``rla_source``). The recurrence itself is in ``rla.py``; how conv1 reads
``cat(x, h)`` in ``rla_conv1.py``.
"""
from typing import Optional, Tuple, Union

from mmcv.cnn import build_conv_layer
from mmdet.models.backbones.resnet import BasicBlock
from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.layers import ResLayer
from torch import Tensor, nn

from ..utils import check_choice, check_int
from .bottleneck import bottleneck_branch
from .eca import ECA
from .rla import RLABlockMixin, RLALayer
from .rla_cells import build_rla_unit
from .rla_conv1 import rla_conv1

RLA_SOURCES = ('output', 'residual', 'shortcut')
RESNET_STYLES = ('pytorch', 'caffe')


class RLAResBlockMixin(RLABlockMixin):
    """What the post-activation RLA blocks add to mmdet's: the wider conv1
    reading ``cat(x, h)``, ECA, and the choice of y.

    ``rla_source`` selects the feature y passed to the RLA update:

    - ``'output'`` (default): the block output ``ReLU(residual + identity)``.
      This is what the authors' code computes: their block sets ``y = out``
      and then runs the in-place ``out += identity; out = relu(out)``, so y
      aliases the output. Every released RLA-ResNet/RLA-ECANet weight and
      every number in the paper's tables came from this behaviour (and so
      their v3/v4 variants of Fig. 4 compute what v1/v2 compute).
    - ``'residual'``: the residual-branch output (after ECA when present),
      as the paper's text and Fig. 3 describe (and what the authors'
      unshared variant, Table 11 (b), computes).
    - ``'shortcut'``: the shortcut branch (x, or the projection shortcut),
      Fig. 4's v5/v6.

    Args:
        inplanes (int): Input channels of x.
        planes (int): As mmdet's blocks (output ``planes * expansion``).
        rla_channel (int): k, channels of the hidden state h.
        eca_kernel_size (int, optional): Add ECA with this kernel if given.
        rla_source (str): 'output' (authors' code, default), 'residual'
            (paper text) or 'shortcut' (v5/v6).
        rla_exchange (bool): h enters the first conv (default). False: the
            conv reads x only, so h reaches nothing but the classifier
            (Table 11 (c), "no information flow from RLA to the main CNN").
        **kwargs: The mmdet block's own arguments.
    """

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int = 32,
                 eca_kernel_size: Optional[int] = None,
                 rla_source: str = 'output',
                 rla_exchange: bool = True,
                 **kwargs) -> None:
        check_int('rla_channel', rla_channel, 0)
        check_choice('rla_exchange', rla_exchange, (True, False))
        check_choice('rla_source', rla_source, RLA_SOURCES)
        check_choice('style', kwargs.get('style', 'pytorch'), RESNET_STYLES)
        if kwargs.get('with_cp'):
            raise ValueError('RLA blocks are checkpointed by their stage, '
                             'together with their RLA update: set `with_cp` '
                             'on the backbone or RLAResLayer, not the block')
        super().__init__(inplanes, planes, **self._check_options(kwargs))
        conv1 = self.conv1
        # h enters the first conv (Fig. 3): k more input channels.
        self.hidden_channels = rla_channel if rla_exchange else 0
        self.conv1 = build_conv_layer(
            kwargs.get('conv_cfg'),
            inplanes + self.hidden_channels,
            conv1.out_channels,
            conv1.kernel_size,
            stride=conv1.stride,
            padding=conv1.padding,
            dilation=conv1.dilation,
            bias=False)
        self.rla_source = rla_source
        self.x_channels = inplanes  # conv1 reads cat(x, h): x's share
        self.eca = ECA(eca_kernel_size) if eca_kernel_size else None

    @staticmethod
    def _check_options(kwargs: dict) -> dict:
        """Named errors where the mmdet block asserts; returns kwargs."""
        return kwargs

    @property
    def cat_conv1(self) -> nn.Module:
        return self.conv1

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                conv1_x: Optional[Tensor] = None,
                path: str = 'cat_recompute') -> Tuple[Tensor, Tensor]:
        """Return (block output, y for the RLA update); h=None means h = 0;
        ``conv1_x`` and ``path`` as ``rla_conv1``."""
        if not self.hidden_channels:
            h = None  # conv1 reads x only (or the network has no RLA)
        out = self.residual(rla_conv1(self.conv1, x, h, conv1_x, path,
                                      self.x_channels))
        return self._add_shortcut(x, out)

    def residual(self, conv1_out: Tensor) -> Tensor:
        """The rest of the residual branch (ECA included) after conv1."""
        raise NotImplementedError

    def _add_shortcut(self, x: Tensor, out: Tensor) -> Tuple[Tensor, Tensor]:
        """Return (block output, y) from the residual branch output."""
        identity = x if self.downsample is None else self.downsample(x)
        if self.rla_source == 'residual':
            return self.relu(out + identity), out
        # In place like mmdet's Bottleneck: out is the fresh output of a norm
        # (or ECA / a fused conv), whose backward does not read it.
        out += identity
        out = self.relu(out)
        return out, (identity if self.rla_source == 'shortcut' else out)


class RLABasicBlock(RLAResBlockMixin, BasicBlock):
    """BasicBlock of RLA-ResNet-18/34: h enters the first 3x3 conv.

    Args: as ``RLAResBlockMixin``; ``**kwargs`` are mmdet's ``BasicBlock``
        arguments (``stride, dilation, downsample, style, conv_cfg,
        norm_cfg, init_cfg``; like mmdet's BasicBlock it supports neither
        ``dcn`` nor ``plugins``).

    Example:
        >>> blk = RLABasicBlock(64, 64, rla_channel=32)
        >>> out, y = blk(torch.rand(1, 64, 8, 8), torch.rand(1, 32, 8, 8))
        >>> out.shape, y.shape
        (torch.Size([1, 64, 8, 8]), torch.Size([1, 64, 8, 8]))
    """
    expansion = 1
    last_norm = 'norm2'  # zero-initialised by zero_init_residual

    @staticmethod
    def _check_options(kwargs: dict) -> dict:
        if kwargs.get('dcn') is not None or kwargs.get('plugins'):
            raise ValueError('RLABasicBlock supports neither `dcn` nor '
                             '`plugins` (as mmdet\'s BasicBlock); use an '
                             'RLA-ResNet depth >= 50 (Bottleneck)')
        return kwargs

    def residual(self, conv1_out: Tensor) -> Tensor:
        out = self.norm2(self.conv2(self.relu(self.norm1(conv1_out))))
        return out if self.eca is None else self.eca(out)


class RLABottleneck(RLAResBlockMixin, ResNeXtBottleneck):
    """Bottleneck of RLA-ResNet-50/101/152: h enters the first 1x1 conv.

    Built as mmdet's ResNeXt ``Bottleneck`` (plain ResNet's when
    ``groups=1``), so ``dcn`` (on the 3x3 conv) and ``plugins``
    (``after_conv1/2/3``) work as in mmdet. ECA, when given, follows the
    last BN (RLA-ECANet), before the ``after_conv3`` plugins.

    Args: as ``RLAResBlockMixin``; ``**kwargs`` are mmdet's ResNeXt
        ``Bottleneck`` arguments (``groups, base_width, base_channels`` give
        the width ``floor(planes * base_width / base_channels) * groups``
        when ``groups > 1``; ``stride, dilation, downsample, style, conv_cfg,
        norm_cfg, dcn, plugins, init_cfg``).

    Example:
        >>> blk = RLABottleneck(256, 64, rla_channel=32)
        >>> out, y = blk(torch.rand(1, 256, 8, 8), torch.rand(1, 32, 8, 8))
        >>> out.shape
        torch.Size([1, 256, 8, 8])
    """
    expansion = 4
    last_norm = 'norm3'  # zero-initialised by zero_init_residual

    @staticmethod
    def _check_options(kwargs: dict) -> dict:
        check_int('groups', kwargs.get('groups', 1))
        dcn = kwargs.get('dcn')
        if dcn is None:
            return kwargs
        if not isinstance(dcn, dict):
            raise ValueError(
                f'`dcn` must be a conv config dict or None, got {dcn!r}')
        if kwargs.get('conv_cfg') is not None:
            raise ValueError('`conv_cfg` must be None when `dcn` is set '
                             '(mmdet builds the DCN conv from `dcn`)')
        # mmdet pops 'fallback_on_stride' from it: keep the caller's dict
        return dict(kwargs, dcn=dict(dcn))

    def residual(self, conv1_out: Tensor) -> Tensor:
        return bottleneck_branch(self, conv1_out, self.eca)


class RLAResLayer(RLALayer):
    """One RLA-ResNet stage: blocks built (with their shortcut) by mmdet's
    ``ResLayer``, registered as ``0 .. num_blocks-1`` (``layer1.0.conv1`` as
    in mmdet's ResNet), and the stage's RLA unit ``rla``.

    Args:
        block (type): An RLA block class (``RLABasicBlock``, ``RLABottleneck``
            or a subclass).
        inplanes, planes, num_blocks, stride, avg_down, conv_cfg, norm_cfg:
            as mmdet's ``ResLayer``.
        rla_channel (int): k; 0 builds the plain stage (no RLA unit, conv1
            reads x only).
        update_last (bool): Whether the last block updates h. False for a
            detection backbone's last stage, where that update feeds nothing
            (and its BN would get no gradient, which breaks DDP).
        rla_cell (str): The unit's cell, one of ``RLA_CELLS``
            (``rla_cells.py``). Default ``'rnn'`` (Eq. (11)).
        rla_update (str), rla_shared (bool): ``update`` and ``shared`` of
            the unit (``RLAUnit``).
        with_cp, split_conv1: as ``RLALayer``.
        **block_kwargs: Passed to every block (dilation, style, eca, dcn,
            plugins, init_cfg...).

    Example:
        >>> layer = RLAResLayer(RLABottleneck, 64, 64, 3, rla_channel=32)
        >>> x, h, pending = layer(torch.rand(1, 64, 16, 16), None)
        >>> x.shape
        torch.Size([1, 256, 16, 16])
    """

    def __init__(self,
                 block: type,
                 inplanes: int,
                 planes: int,
                 num_blocks: int,
                 rla_channel: int,
                 stride: int = 1,
                 avg_down: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 update_last: bool = True,
                 rla_cell: str = 'rnn',
                 rla_update: str = 'pre',
                 rla_shared: bool = True,
                 with_cp: bool = False,
                 split_conv1: Union[bool, str] = 'auto',
                 **block_kwargs) -> None:
        blocks = ResLayer(
            block,
            inplanes,
            planes,
            num_blocks,
            stride=stride,
            avg_down=avg_down,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            rla_channel=rla_channel,
            **block_kwargs)
        num_updates = 0 if rla_channel == 0 else \
            num_blocks if update_last else num_blocks - 1
        unit = build_rla_unit(
            rla_cell,
            planes * block.expansion,
            rla_channel,
            num_updates,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            update=rla_update,
            shared=rla_shared) if num_updates > 0 else None
        super().__init__(list(blocks), unit, num_updates, with_cp,
                         split_conv1)
        self.rla_channel = rla_channel
