"""MobileNetV2 with CSR-Convs: the CSR-Conv paper's lightweight MobileNet-V2s.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.1, Table 2 (MobileNet-V2 on CIFAR-10 and ImageNet) and
Table 3 ("Ours-1/2"), and the two MobileNetV2 models of the authors' released
notebook ``RNN-MobileNet.ipynb`` (github.com/tuaxon/CSR_Conv).

``CSRMobileNetV2`` is mmpretrain's ``MobileNetV2`` (every argument, the same
module names) whose chosen 1x1 convs are CSR-Convs: ``csr_layout`` maps conv
names to T, the way ``conv_cfg`` picks one conv's type
(``rla_mm.models.layers.csr_layout.apply_csr_layout``). In a block
``layer{g}.{j}`` the expansion conv is ``conv.0`` and the projection
``conv.2`` (``conv.1`` in the t = 1 block of ImageNet, which has no
expansion). The notebook converts whole blocks, expansion with T = 3 and
projection with T = 4, and the paper's "#C-C" counts such blocks:

- ``'csr-conv-2'``: blocks 6-17 (``layer3.2`` on), the notebook's ImageNet
  model = Table 2 CSR-Conv-2 = Table 3 Ours-1: 2,469,080 parameters with the
  1000-way head, against 3,504,872 plain (29.55%, 24 cells);
- ``'csr-conv-1'``: the same on blocks 16-17 = Table 2 CSR-Conv-1 = Table 3
  Ours-2: 3,013,040 (14.03%); the rule is our inference, not in the notebook.

``CSRMobileNetV2CIFAR`` is the notebook's CIFAR-10 network: stem stride 1,
strides only at 32 -> 64 and 96 -> 160 (32 -> 16 -> 8), and an expansion
conv (32 -> 32) even in the t = 1 block. Its ``'notebook'`` layout (all 17
blocks, 34 cells) has 1,182,272 parameters with the 10-way head against
2,237,770 plain; it is no row of Table 2, and no layout reproduces the CIFAR
rows (``docs/csr_conv.md`` gives our closest, the ``'table2-*'`` presets).

The cells default to ``csr_cell='ode'``, the notebook's (its counts include
each cell's alpha and beta); ``'rnn'`` is Eq. 2. Unlike mmpretrain's
MobileNetV2, the layers after ``max(out_indices)`` are not kept (a detector
with ``out_indices=(2, 4, 6)`` has no unused ``conv2``), ``frozen_stages``
freezes the stem's BN statistics too, and the default ``init_cfg`` leaves the
cells' own init alone (``CSRCell``), as the notebook's init loop does.
"""
from typing import Sequence

from mmcv.cnn import ConvModule
from mmpretrain.models.backbones import MobileNetV2
from torch import nn

from ...registry import MODELS
from ..layers.csr_conv import CSR_CELLS
from ..layers.csr_layout import (CSR_INIT_CFG, apply_csr_layout,
                                 count_csr_convs)
from ..utils import check_choice, check_frozen_stages, check_out_indices
from .base import FreezeStagesMixin


def _blocks(pattern: str, expand_steps: int, project_steps: int) -> dict:
    """The layout that converts the blocks matching ``pattern`` (e.g.
    ``'layer[4-7].*'``) as the notebook does."""
    return {f'{pattern}.conv.0': expand_steps,
            f'{pattern}.conv.2': project_steps}


# Table 2 ImageNet rows; blocks 6-17 = layer3.2 and layer4-7, 16-17 =
# layer6.2 and layer7.0
IMAGENET_LAYOUTS = {
    'csr-conv-1': {**_blocks('layer6.2', 3, 4), **_blocks('layer7.0', 3, 4)},
    'csr-conv-2': {**_blocks('layer3.2', 3, 4),
                   **_blocks('layer[4-7].*', 3, 4)},
}
# The notebook's CIFAR model, and our closest layouts to the CIFAR rows of
# Table 2 by the ImageNet rows' rule: the last #C-C blocks at the row's T, an
# 18th module being the head conv (row 5: 17 blocks, nearer; docs/csr_conv.md)
CIFAR_LAYOUTS = {
    'notebook': _blocks('layer*', 3, 4),
    'table2-csr-conv-1': _blocks('layer[67].*', 3, 3),
    'table2-csr-conv-2': _blocks('layer[567].*', 3, 3),
    'table2-csr-conv-3': _blocks('layer*', 3, 3),
    'table2-csr-conv-4': {**_blocks('layer*', 3, 3), 'conv2': 3},
    'table2-csr-conv-5': _blocks('layer*', 4, 4),
}


@MODELS.register_module()
class CSRMobileNetV2(FreezeStagesMixin, MobileNetV2):
    """mmpretrain's MobileNetV2 whose chosen 1x1 convs are CSR-Convs
    (CSR-Conv paper Table 2 ImageNet MobileNet-V2, Table 3 Ours-1/2).

    Args:
        csr_layout (str | dict, optional): A key of ``csr_layouts``
            (``'csr-conv-1'``, ``'csr-conv-2'``) or ``{conv name or fnmatch
            pattern: T}`` (``{'layer7.0.conv.2': 4, 'conv2': 4}``); None
            (default) is the plain MobileNetV2.
        csr_cell (str): Cell of the CSR-Convs, ``'ode'`` (default, the
            authors' notebook) or ``'rnn'`` (Eq. 2), ``'gru'``, ``'lstm'``.
        out_indices (Sequence[int]): 0-6: ``layer1..7``, 7: ``conv2``.
            Default (7, ).
        frozen_stages (int): -1: none; 0: the stem; i: the stem and
            ``layer1..i`` (eval mode, no gradient).
        init_cfg: ``CSR_INIT_CFG``: mmpretrain's, and the cells keep their
            own init.
        **kwargs: The other arguments of mmpretrain's ``MobileNetV2``
            (``widen_factor``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``,
            ``norm_eval``, ``with_cp``).

    Example:
        >>> net = CSRMobileNetV2('csr-conv-2', out_indices=(2, 4, 6)).eval()
        >>> net.num_csr_convs()
        24
        >>> [tuple(o.shape) for o in net(torch.rand(1, 3, 64, 64))]
        [(1, 32, 8, 8), (1, 96, 4, 4), (1, 320, 2, 2)]
    """

    csr_layouts = IMAGENET_LAYOUTS
    stem_stride = 2
    expand_every_block = False  # mmpretrain: no expansion conv at t = 1

    def __init__(self,
                 csr_layout=None,
                 csr_cell: str = 'ode',
                 out_indices: Sequence[int] = (7, ),
                 frozen_stages: int = -1,
                 init_cfg=CSR_INIT_CFG,
                 **kwargs) -> None:
        num_layers = len(self.arch_settings)
        out_indices = check_out_indices(out_indices, num_layers + 1)
        check_frozen_stages(frozen_stages, num_layers)
        check_choice('csr_cell', csr_cell, CSR_CELLS)
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         init_cfg=init_cfg, **kwargs)
        if self.stem_stride != 2:
            self.conv1 = ConvModule(
                3, self.conv1.conv.out_channels, 3, stride=self.stem_stride,
                padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        converted = apply_csr_layout(self, csr_layout, csr_cell,
                                     self.csr_layouts)
        for name in self.layers[max(out_indices) + 1:]:
            delattr(self, name)  # nothing reads it
        self.layers = self.layers[:max(out_indices) + 1]
        self.csr_layout = {path: steps for path, steps in converted.items()
                           if path.split('.')[0] in self.layers}
        self.csr_cell = csr_cell
        self._freeze_stages()

    def make_layer(self, out_channels, num_blocks, stride, expand_ratio):
        """mmpretrain's layer; with ``expand_every_block`` a t = 1 block gets
        the notebook's expansion conv (C -> C, BN, ReLU6) as ``conv.0``."""
        in_channels = self.in_channels
        layer = super().make_layer(out_channels, num_blocks, stride,
                                   expand_ratio)
        if expand_ratio == 1 and self.expand_every_block:
            for j, block in enumerate(layer):
                width = in_channels if j == 0 else out_channels
                block.conv = nn.Sequential(
                    ConvModule(width, width, 1, conv_cfg=self.conv_cfg,
                               norm_cfg=self.norm_cfg, act_cfg=self.act_cfg),
                    *block.conv)
        return layer

    def frozen_modules(self) -> list:
        """The stem (``frozen_stages >= 0``) and ``layer1..frozen_stages``."""
        modules = [self.conv1] if self.frozen_stages >= 0 else []
        return modules + [getattr(self, f'layer{i}')
                          for i in range(1, self.frozen_stages + 1)
                          if hasattr(self, f'layer{i}')]

    def train(self, mode: bool = True):
        # mmpretrain's MobileNetV2.train runs _freeze_stages (the mixin's)
        # and norm_eval; only the return value is ours
        super(FreezeStagesMixin, self).train(mode)
        return self

    def num_csr_convs(self) -> int:
        """The number of CSR-Conv layers (Table 2's #C-C counts blocks:
        two layers each)."""
        return count_csr_convs(self)


@MODELS.register_module()
class CSRMobileNetV2CIFAR(CSRMobileNetV2):
    """The authors' CIFAR-10 MobileNetV2 (their notebook's first model) with
    CSR-Convs; Table 2's CIFAR-10 MobileNet-V2 (2.24M plain).

    Args: as ``CSRMobileNetV2``; ``csr_layout`` presets: ``'notebook'`` (its
    34 cells: 1,182,272 parameters with the 10-way head) and
    ``'table2-csr-conv-1'`` .. ``'-5'`` (our closest to Table 2's rows).

    Example:
        >>> net = CSRMobileNetV2CIFAR('notebook').eval()
        >>> net.num_csr_convs(), net(torch.rand(1, 3, 32, 32))[0].shape
        (34, torch.Size([1, 1280, 8, 8]))
    """

    # (t, c, n, s) as MobileNetV2, strides only at 32 -> 64 and 96 -> 160
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 1],
                     [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                     [6, 320, 1, 1]]
    csr_layouts = CIFAR_LAYOUTS
    stem_stride = 1
    expand_every_block = True
