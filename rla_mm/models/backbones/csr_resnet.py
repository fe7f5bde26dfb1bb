"""ResNets whose 3x3 convs are CSR-Convs.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.1, Sec. 4.4, Table 2. The paper builds lightweight
networks by replacing some convolutions of a backbone with CSR-Convs of T
steps (Sec. 3.1: T in {1, T}, "a linear convolutional layer is either
unchanged or split into T groups", layers taken from the end of the network,
Sec. 4.4). ``CSRResNet`` is mmpretrain's ``ResNet`` (every argument of it,
e.g. ``depth=50``, ``frozen_stages``, ``norm_eval``) plus, per stage, the
number of steps T (``csr_num_steps``) and how many of the stage's last 3x3
convs become CSR-Convs; ``CSRResNetCIFAR`` is the same over
mmpretrain's ``ResNet_CIFAR`` (3x3 stem, no max pooling) and adds the He et
al. CIFAR depths 20/32/44/56/110 (three stages of 16/32/64 BasicBlock
channels). The converted convs keep their in/out channels, stride, padding
and dilation (``CSRConv`` zero-pads the input split and cuts the output to
the conv's width when T does not divide them).
"""
from typing import Optional, Sequence

from mmpretrain.models.backbones import ResNet, ResNet_CIFAR
from mmpretrain.models.backbones.resnet import BasicBlock
from torch import nn

from ...registry import MODELS
from ..layers.csr_conv import CSR_CELLS, CSRConv
from ..layers.csr_layout import csr_conv_like
from ..utils import check_choice, check_int_sequence, check_renamed
from .base import ResNetFreezeMixin

# He et al. CIFAR ResNets: 6n + 2 layers, three stages of n BasicBlocks
CIFAR_ARCH_SETTINGS = {
    20: (BasicBlock, (3, 3, 3)),
    32: (BasicBlock, (5, 5, 5)),
    44: (BasicBlock, (7, 7, 7)),
    56: (BasicBlock, (9, 9, 9)),
    110: (BasicBlock, (18, 18, 18)),
}


class _CSRConversionMixin(ResNetFreezeMixin):
    """Builds the mmpretrain ResNet, then replaces the last 3x3 convs of
    chosen stages with CSR-Convs; freezing (``frozen_stages``, ``norm_eval``,
    ``train()``) is ``ResNetFreezeMixin``'s, run again after the conversion
    so that new convs of frozen stages are frozen too."""

    def __init__(self,
                 depth: int,
                 csr_num_steps: Optional[Sequence[int]] = None,
                 csr_num_convs: Optional[Sequence[int]] = None,
                 csr_cell: str = 'rnn',
                 csr_steps: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        csr_num_steps = check_renamed('csr_num_steps', csr_num_steps,
                                      'csr_steps', csr_steps)
        super().__init__(depth, **kwargs)
        self._convert_to_csr(csr_num_steps, csr_num_convs, csr_cell)

    def _convert_to_csr(self, csr_num_steps: Optional[Sequence[int]],
                        csr_num_convs: Optional[Sequence[int]],
                        csr_cell: str) -> None:
        num_stages = len(self.res_layers)
        steps = check_int_sequence(
            'csr_num_steps', (1, ) * num_stages if csr_num_steps is None else
            csr_num_steps, num_stages)
        counts = check_int_sequence(
            'csr_num_convs', (-1, ) * num_stages if csr_num_convs is None else
            csr_num_convs, num_stages, low=-1)
        check_choice('csr_cell', csr_cell, CSR_CELLS)
        self.csr_num_steps, self.csr_num_convs = steps, counts
        self.csr_cell = csr_cell
        for layer_name, t_steps, count in zip(self.res_layers, steps, counts):
            convs = [(block, name)
                     for block in getattr(self, layer_name)
                     for name, m in block.named_children()
                     if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
                     and m.groups == 1]
            if count > len(convs):
                raise ValueError(
                    f'`csr_num_convs`: {layer_name} has {len(convs)} 3x3 '
                    f'convs, asked for {count}')
            if t_steps == 1 and count > 0:
                raise ValueError(
                    f'`csr_num_convs` asks for {count} CSR-Convs in '
                    f'{layer_name}, whose `csr_num_steps` is 1 (a plain '
                    'conv)')
            if t_steps == 1 or count == 0:
                continue
            chosen = convs if count == -1 else convs[len(convs) - count:]
            for block, name in chosen:
                setattr(block, name, csr_conv_like(getattr(block, name),
                                                   t_steps, csr_cell))
        self._freeze_stages()  # again: the new convs of frozen stages

    def num_csr_convs(self) -> int:
        """#C-C of Table 2: the number of CSR-Conv layers."""
        return sum(isinstance(m, CSRConv) for m in self.modules())


@MODELS.register_module()
class CSRResNet(_CSRConversionMixin, ResNet):
    """mmpretrain's ResNet with CSR-Convs (CSR-Conv paper Table 2, ImageNet
    ResNet-50).

    Args:
        depth (int): Network depth (``arch_settings``).
        csr_num_steps (Sequence[int], optional): T per stage, the recurrent
            steps of its CSR-Convs; 1 leaves the stage plain. Default: all 1
            (the plain ResNet).
        csr_num_convs (Sequence[int], optional): Per stage, how many of its
            last 3x3 convs (in forward order; a BasicBlock has two, a
            Bottleneck one) become CSR-Convs; -1 = all. Default: all.
        csr_cell (str): ``'rnn'`` (default), ``'gru'`` or ``'lstm'``.
        csr_steps (Sequence[int], optional): Deprecated alias of
            ``csr_num_steps``.
        **kwargs: The arguments of mmpretrain's ``ResNet``.

    Example:
        >>> net = CSRResNet(50, csr_num_steps=(1, 1, 3, 3)).eval()
        >>> net.num_csr_convs()
        9
        >>> net(torch.rand(1, 3, 64, 64))[-1].shape
        torch.Size([1, 2048, 2, 2])
    """
    arch_settings = {**ResNet.arch_settings, **CIFAR_ARCH_SETTINGS}


@MODELS.register_module()
class CSRResNetCIFAR(_CSRConversionMixin, ResNet_CIFAR):
    """mmpretrain's ResNet_CIFAR with CSR-Convs and the CIFAR depths
    20/32/44/56/110 (CSR-Conv paper Table 2, ResNet-56/110).

    For those depths ``num_stages=3``, ``stem_channels=base_channels=16``,
    ``strides=(1, 2, 2)`` and ``out_indices=(2, )`` are the defaults. The
    shortcut of a widening block is mmpretrain's 1x1 conv + BN (He et al.'s
    option B): 2,752 parameters more than option A's zero padding.

    Args: as ``CSRResNet`` (``**kwargs``: mmpretrain's ``ResNet_CIFAR``).

    Example:
        >>> net = CSRResNetCIFAR(56, csr_num_steps=(1, 1, 2),
        ...                      csr_num_convs=(0, 0, 4)).eval()
        >>> net.num_csr_convs()
        4
        >>> net(torch.rand(1, 3, 32, 32))[-1].shape
        torch.Size([1, 64, 8, 8])
    """
    arch_settings = {**ResNet.arch_settings, **CIFAR_ARCH_SETTINGS}

    def __init__(self, depth: int, **kwargs) -> None:
        if depth in CIFAR_ARCH_SETTINGS:  # He et al.'s CIFAR layout
            for key, value in (('num_stages', 3), ('stem_channels', 16),
                               ('base_channels', 16), ('strides', (1, 2, 2)),
                               ('dilations', (1, 1, 1)),
                               ('out_indices', (2, ))):
                kwargs.setdefault(key, value)
        super().__init__(depth, **kwargs)  # CSR arguments in kwargs
