"""RCResNet: the ResNet-34-style RC network R_4 of [RC-CA] Eq. (10).

Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809,
Sec. 5.3, Eq. (10), Table 5::

    T_1 -> C_1^m(64) -> T_2 -> C_2^m(128) -> T_3 -> C_3^m(256)
        -> T_4 -> C_4^m(512)

A ResNet with 1 + m pre-activation basic blocks per stage ("4 blocks per
group" in the paper, m = 3) keeps the first block T_i of each stage (it
changes width / resolution) and replaces the other m by ONE block C_i
unrolled up to m steps with independent BN per step. Unrolled m steps it has
exactly the graph of the standard network S_4^m (``share_weights=False``).
The unrolling step can change per forward, so a detector built on it can
choose its compute at test time (``set_num_steps`` / ``num_steps``).
"""
from typing import Optional, Sequence

from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.rc import RCPreActBlock
from ..utils import check_choice, check_int_sequence
from .rc_base import BaseRCBackbone, Steps

RC_RESNET_STEMS = ('cifar', 'imagenet')


@MODELS.register_module()
class RCResNet(BaseRCBackbone):
    """R_4^m / S_4^m of [RC-CA] Eq. (10), for classification and detection.

    Args:
        max_steps (int, optional): m, the steps every RC block is built for
            (the standard network S_4^m has 1 + m blocks per stage). Default:
            ``num_steps`` when that is one int, else 3.
        num_steps (int | Sequence[int], optional): Steps to run (one for all
            stages or one per stage); default ``max_steps``. Given alone it
            is m (``RCResNet(num_steps=2, share_weights=False)`` is S_4^2);
            with ``max_steps`` it picks the compute of a cost-adjustable model
            at test time (``--cfg-options model.backbone.num_steps=1``).
        share_weights (bool): RC (True) or the standard network (False).
        bn_mode (str): ``'independent'`` (default), ``'shared'`` or ``'none'``.
        double_bn (bool): Double independent BN ([RC-CA] Sec. 4.1): the blocks
            of stage i > 1 (T_i and C_i), whose input depends on how many steps
            C_{i-1} ran, get a BN group per (steps of C_{i-1}, own step).
            T_1 and C_1 see a step-independent input and keep one group per
            own step. Default False.
        unified_steps (bool): With ``double_bn``, build only the lower
            triangle of Eq. 6 (one unified step, Sec. 4.2). Default True.
        stem_type (str): ``'cifar'`` (3x3 conv, stride 1, no BN: the
            pre-activation ResNet of Table 5) or ``'imagenet'`` (7x7 conv
            stride 2, BN, ReLU, 3x3 max pool stride 2: output stride 4 for
            detection).
        in_channels (int): Image channels. Default 3.
        base_channels (int): Width of stage 1 (stage i has ``base * 2**i``).
        num_stages (int): 1 to 4. Default 4.
        strides (Sequence[int]): Stride of each T_i. Default (1, 2, 2, 2).
        out_indices (Sequence[int]): Stages whose outputs are returned.
        frozen_stages (int): -1 none, 0 the stem, i the stem and stages 1..i
            (mmdet's convention).
        norm_eval (bool): Keep every BN in eval mode while training.
        conv_cfg (dict, optional), norm_cfg (dict), act_cfg (dict): Layers.
        init_cfg (dict, optional): Default None = PyTorch's default init.

    Example:
        >>> model = RCResNet(stem_type='imagenet', base_channels=16,
        ...                  out_indices=(0, 1, 2, 3)).eval()
        >>> outs = model(torch.rand(1, 3, 97, 131))
        >>> [tuple(o.shape) for o in outs]
        [(1, 16, 25, 33), (1, 32, 13, 17), (1, 64, 7, 9), (1, 128, 4, 5)]
    """

    def __init__(self,
                 max_steps: Optional[int] = None,
                 num_steps: Optional[Steps] = None,
                 share_weights: bool = True,
                 bn_mode: str = 'independent',
                 double_bn: bool = False,
                 unified_steps: bool = True,
                 stem_type: str = 'cifar',
                 in_channels: int = 3,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        check_choice('num_stages', num_stages, (1, 2, 3, 4))
        check_choice('stem_type', stem_type, RC_RESNET_STEMS)
        strides = check_int_sequence('strides', strides, num_stages)
        max_steps = self._init_common(
            max_steps=max_steps, num_steps=num_steps, default_max_steps=3,
            num_cells=num_stages, share_weights=share_weights,
            bn_mode=bn_mode, double_bn=double_bn,
            unified_steps=unified_steps, out_indices=out_indices,
            frozen_stages=frozen_stages, norm_eval=norm_eval,
            in_channels=in_channels, base_channels=base_channels)
        self.stem_type = stem_type
        self.num_stages = num_stages

        if stem_type == 'cifar':
            self.stem = nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, base_channels, 3,
                                 padding=1, bias=False))
        else:
            self.stem = nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, base_channels, 7,
                                 stride=2, padding=3, bias=False),
                build_norm_layer(norm_cfg, base_channels)[1],
                build_activation_layer(act_cfg),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        block_cfg = dict(bn_mode=bn_mode, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.transitions = nn.ModuleList()
        self.cells = nn.ModuleList()
        in_ch = base_channels
        for i in range(num_stages):
            out_ch = base_channels * 2**i
            contexts = max_steps if double_bn and i > 0 else 1
            self.transitions.append(
                RCPreActBlock(in_ch, out_ch, stride=strides[i],
                              num_contexts=contexts, **block_cfg))
            self.cells.append(
                RCPreActBlock(out_ch, max_steps=max_steps,
                              share_weights=share_weights,
                              num_contexts=contexts,
                              triangular=unified_steps, **block_cfg))
            in_ch = out_ch
        self.out_channels = tuple(base_channels * 2**i
                                  for i in self.out_indices)
        self._freeze_stages()

    def stage_modules(self, index: int) -> Sequence[nn.Module]:
        return [self.transitions[index - 1], self.cells[index - 1]]

    def forward(self, x: Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for i in range(self.num_stages):
            context = self.cell_steps[i - 1] if self.double_bn and i else 1
            x = self.transitions[i](x, context=context)
            x = self.cells[i](x, self.cell_steps[i], context=context)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
