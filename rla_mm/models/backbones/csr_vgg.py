"""CIFAR VGG-16 with CSR-Conv layers.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023 (no arXiv
version), Sec. 3.1, Tables 1-2.

The CIFAR VGG-16: 13 3x3 conv + BN + ReLU layers in five stages of 2, 2, 3,
3, 3 convs, each stage followed by a 2x2 max pooling (32 -> 1), global
pooling and a 512-512-10 classifier (the configs' head). Each conv has its
own output width and its own number of steps T: T = 1 keeps a plain conv (the
paper's "length equal to 1, there will be no change"), T > 1 makes it a
``CSRConv`` with T steps.

``CSR_VGG_ARCHS['csr-conv-4']`` is Table 1 (CSR-Conv-4 of Table 2, T = 5):
conv5 widened to 260 so that conv6 splits into 5 x 52 channels, conv6-13 as
CSR-Convs with d x D = 52 x 52 (conv6-7), 52 x 103 (conv8) and 103 x 103
(conv9-13). Conv13 keeps 512 outputs (its 5 x 103 = 515 hidden channels are
cut to 512, see ``CSRConv``), which is what Table 1's unchanged 512 x 512 FC
(267,264 weights, 0.0%) implies.
"""
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.csr_conv import CSR_CELLS
from ..utils import (check_choice, check_frozen_stages, check_int,
                     check_int_sequence, check_out_indices)
from .base import FreezeStagesMixin

VGG16_STAGE_CONVS = (2, 2, 3, 3, 3)
VGG16_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512,
                  512)
CSR_VGG_ARCHS = {
    # plain CIFAR VGG-16 (Table 2: 14.98M)
    'vgg16': dict(channels=VGG16_CHANNELS, num_steps=(1, ) * 13),
    # Table 1 = CSR-Conv-4 of Table 2 (2.02M)
    'csr-conv-4': dict(
        channels=(64, 64, 128, 128, 260, 260, 260, 515, 515, 515, 515, 515,
                  512),
        num_steps=(1, ) * 5 + (5, ) * 8),
}


@MODELS.register_module()
class CSRVGG(FreezeStagesMixin, BaseModule):
    """CIFAR VGG-16 whose convs may be CSR-Convs (CSR-Conv paper Table 1).

    Args:
        arch (str, optional): A preset of ``CSR_VGG_ARCHS``. Default
            ``'csr-conv-4'``. With ``arch=None`` give both ``channels`` and
            ``num_steps``.
        channels (Sequence[int], optional): Output width of the 13 convs
            (overrides the preset's).
        num_steps (int | Sequence[int], optional): T of every conv or of
            each of the 13, 1 = plain conv (overrides the preset's).
        cell (str): CSR-Conv cell, ``'rnn'`` (default), ``'gru'``, ``'lstm'``.
        in_channels (int): Image channels. Default 3.
        out_indices (Sequence[int]): Stages (0-4) whose outputs are returned.
            Default (4, ).
        frozen_stages (int): -1 (or 0) none, i: ``layer1`` .. ``layer{i}``.
        norm_cfg (dict): Norm after every conv.
        norm_eval (bool): Keep every BN in eval mode while training.
        with_last_pool (bool): Max-pool after the last stage. Default True.

    Example:
        >>> net = CSRVGG('csr-conv-4').eval()
        >>> [tuple(o.shape) for o in net(torch.rand(1, 3, 32, 32))]
        [(1, 512, 1, 1)]
    """

    def __init__(self,
                 arch: Optional[str] = 'csr-conv-4',
                 channels: Optional[Sequence[int]] = None,
                 num_steps=None,
                 cell: str = 'rnn',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (4, ),
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_last_pool: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if arch is not None:
            check_choice('arch', arch, sorted(CSR_VGG_ARCHS) + [None])
            channels = channels or CSR_VGG_ARCHS[arch]['channels']
            if num_steps is None:
                num_steps = CSR_VGG_ARCHS[arch]['num_steps']
        if channels is None or num_steps is None:
            raise ValueError('with `arch=None` give `channels` and '
                             '`num_steps`')
        num_convs = sum(VGG16_STAGE_CONVS)
        if not isinstance(num_steps, (list, tuple)):
            num_steps = (check_int('num_steps', num_steps), ) * num_convs
        channels = check_int_sequence('channels', channels, num_convs)
        num_steps = check_int_sequence('num_steps', num_steps, num_convs)
        check_choice('cell', cell, CSR_CELLS)
        out_indices = check_out_indices(out_indices, 5)
        check_frozen_stages(frozen_stages, 5)
        self.channels, self.num_steps = channels, num_steps
        self.out_indices, self.frozen_stages = out_indices, frozen_stages
        self.norm_eval, self.with_last_pool = norm_eval, with_last_pool

        conv_index, c_in = 0, in_channels
        for stage, num in enumerate(VGG16_STAGE_CONVS):
            layers = []
            for _ in range(num):
                steps = num_steps[conv_index]
                conv_cfg = None if steps == 1 else dict(
                    type='CSRConv', num_steps=steps, cell=cell)
                layers.append(ConvModule(
                    c_in, channels[conv_index], 3, padding=1,
                    conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    act_cfg=dict(type='ReLU')))
                c_in = channels[conv_index]
                conv_index += 1
            self.add_module(f'layer{stage + 1}', nn.Sequential(*layers))
        self._freeze_stages()

    def frozen_modules(self) -> List[nn.Module]:
        """``layer1`` .. ``layer{frozen_stages}`` (no stem: 0 freezes
        nothing, as -1)."""
        return [getattr(self, f'layer{i}')
                for i in range(1, self.frozen_stages + 1)]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for i in range(5):
            x = getattr(self, f'layer{i + 1}')(x)
            if i < 4 or self.with_last_pool:
                x = F.max_pool2d(x, 2)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
