"""EfficientNet with CSR-Convs: the CSR-Conv paper's EfficientNet-B0.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.1, Table 2 (ImageNet EfficientNet-B0: 5.28M plain,
CSR-Conv-1 4.28M with 3 modules at T = 3, CSR-Conv-2 3.89M with 4 at T = 5)
and Table 3 ("Ours-3", 4.3M). The authors released no EfficientNet code.

``CSREfficientNet`` is mmpretrain's ``EfficientNet`` (every argument, the
same module names: block j of layer i is ``layers.{i}.{j}`` with
``expand_conv``, ``depthwise_conv``, ``se`` and ``linear_conv``; the 1x1
head conv is ``layers.6.conv`` in 'b0') whose chosen 1x1 convs are
CSR-Convs, with ``csr_layout`` as in ``CSRMobileNetV2``. mmpretrain's 'b0'
with a 1280 -> 1000 linear head has 5,288,548 parameters (the paper prints
5.28M).

No layout of the convs reproduces the two rows (``docs/csr_conv.md``): the
``'table2-csr-conv-1'`` / ``'-2'`` presets apply the rule that gives the
MobileNet-V2 rows exactly, the last #C-C blocks with their expansion and
projection convs as cells at the row's T: 4,439,977 (3 blocks, T = 3) and
3,671,586 (4 blocks, T = 5) with the 1000-way head.
"""
from mmpretrain.models.backbones import EfficientNet

from ...registry import MODELS
from ..layers.csr_conv import CSR_CELLS
from ..layers.csr_layout import (CSR_INIT_CFG, apply_csr_layout,
                                 count_csr_convs)
from ..utils import check_choice, check_out_indices
from .base import FreezeStagesMixin


def _last_blocks(blocks: str, num_steps: int) -> dict:
    return {f'layers.5.{blocks}.expand_conv': num_steps,
            f'layers.5.{blocks}.linear_conv': num_steps}


# 'b0': layers.5 holds the last five blocks (192 x 4, 320)
B0_LAYOUTS = {
    'table2-csr-conv-1': _last_blocks('[234]', 3),
    'table2-csr-conv-2': _last_blocks('[1234]', 5),
}


@MODELS.register_module()
class CSREfficientNet(FreezeStagesMixin, EfficientNet):
    """mmpretrain's EfficientNet whose chosen 1x1 convs are CSR-Convs
    (CSR-Conv paper Table 2 EfficientNet-B0, Table 3 Ours-3).

    Args:
        csr_layout (str | dict, optional): A key of ``csr_layouts`` (for
            'b0') or ``{conv name or fnmatch pattern: T}``, e.g.
            ``{'layers.5.4.linear_conv': 3}``; None (default): the plain
            EfficientNet. Only 1x1 convs: the others use TF "same" padding.
        csr_cell (str): ``'ode'`` (default, the authors' released cell) or
            ``'rnn'`` (Eq. 2), ``'gru'``, ``'lstm'``.
        frozen_stages (int): As mmpretrain's: 0 none, i: ``layers[:i]``
            (``layers.0`` is the stem), in eval mode.
        arch, out_indices: As mmpretrain's ``EfficientNet``.
        init_cfg: ``CSR_INIT_CFG``: mmpretrain's, and the cells keep their
            own init.
        **kwargs: The other arguments of mmpretrain's ``EfficientNet``
            (``drop_path_rate``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``,
            ``norm_eval``, ``with_cp``).

    Example:
        >>> net = CSREfficientNet('b0', 'table2-csr-conv-1').eval()
        >>> net.num_csr_convs(), net(torch.rand(1, 3, 64, 64))[0].shape
        (6, torch.Size([1, 1280, 2, 2]))
    """

    csr_layouts = B0_LAYOUTS

    def __init__(self,
                 arch: str = 'b0',
                 csr_layout=None,
                 csr_cell: str = 'ode',
                 out_indices=(6, ),
                 frozen_stages: int = 0,
                 init_cfg=CSR_INIT_CFG,
                 **kwargs) -> None:
        check_choice('arch', arch, self.arch_settings)
        num_layers = len(self.layer_settings['b' if arch == 'l2' else
                                             arch[:1]])
        out_indices = check_out_indices(out_indices, num_layers)
        check_choice('frozen_stages', frozen_stages, range(num_layers + 1))
        check_choice('csr_cell', csr_cell, CSR_CELLS)
        super().__init__(arch, out_indices=out_indices,
                         frozen_stages=frozen_stages, init_cfg=init_cfg,
                         **kwargs)
        presets = self.csr_layouts if arch == 'b0' else {}
        self.csr_layout = apply_csr_layout(self, csr_layout, csr_cell,
                                           presets)
        self.csr_cell = csr_cell
        self._freeze_stages()

    def frozen_modules(self) -> list:
        """``layers[:frozen_stages]``, as mmpretrain's EfficientNet."""
        return list(self.layers[:self.frozen_stages])

    def train(self, mode: bool = True):
        # mmpretrain's EfficientNet.train runs _freeze_stages (the mixin's)
        # and norm_eval; only the return value is ours
        super(FreezeStagesMixin, self).train(mode)
        return self

    def num_csr_convs(self) -> int:
        """The number of CSR-Conv layers (two per converted block)."""
        return count_csr_convs(self)
