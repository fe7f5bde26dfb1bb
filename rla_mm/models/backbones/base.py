"""What every rla_mm backbone shares: ``frozen_stages``, ``norm_eval`` and a
``train()`` that keeps them, the way mmdet's ``ResNet`` does.

A backbone lists the modules that ``frozen_stages`` freezes in
``frozen_modules()``; ``_freeze_stages()`` (called at the end of ``__init__``
and by ``train()``) sets them to eval mode and stops their gradients, and
``train()`` then puts every BN in eval mode when ``norm_eval`` is set.
Unlike mmdet's ``ResNet.train`` (which returns None), ``train()`` returns
``self`` so that ``model.eval()`` and ``model.train()`` chain as in torch.
"""
from typing import List, Optional, Sequence

from mmdet.models.backbones import ResNet
from mmengine.registry import DefaultScope
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils import (check_choice, check_frozen_stages, check_int,
                     check_int_sequence, check_out_indices)


class FreezeStagesMixin:
    """``frozen_stages`` / ``norm_eval`` / ``train()`` for any backbone.

    Put it before the ``nn.Module`` base (``class X(FreezeStagesMixin,
    BaseModule)`` or ``(FreezeStagesMixin, ResNet)``). The subclass sets
    ``self.frozen_stages`` and ``self.norm_eval`` and implements
    ``frozen_modules()``.
    """

    frozen_stages: int
    norm_eval: bool

    def frozen_modules(self) -> List[nn.Module]:
        """The modules that ``frozen_stages`` freezes (stem, stages, and
        whatever a stage owns, such as RLA units)."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


class ResNetFreezeMixin(FreezeStagesMixin):
    """``FreezeStagesMixin`` for subclasses of mmdet's ``ResNet``: stage 0 is
    the stem, stage i is ``layer{i}`` with everything it owns (its RLA unit,
    MRLA bricks...), as mmdet's own ``ResNet._freeze_stages``."""

    def frozen_modules(self) -> List[nn.Module]:
        modules = []
        if self.frozen_stages >= 0:
            if getattr(self, 'deep_stem', False):
                modules.append(self.stem)
            else:
                modules.append(self.conv1)
                if hasattr(self, 'norm1_name'):
                    modules.append(self.norm1)
        for i in range(1, self.frozen_stages + 1):
            modules.append(getattr(self, f'layer{i}'))
        return modules

    def train(self, mode: bool = True):
        # mmdet's and mmpretrain's ResNet.train already call _freeze_stages
        # (this mixin's) and apply norm_eval; only the return value is ours.
        super(FreezeStagesMixin, self).train(mode)
        return self


def resolve_norm_eval(norm_eval: Optional[bool]) -> bool:
    """The ``norm_eval`` default of a ResNet-style rla_mm backbone.

    An explicit True/False is kept. None (the default) follows the library
    the model is built for, so that swapping ``ResNet`` for an rla_mm
    backbone in a config changes nothing else: mmdet's ``ResNet`` defaults
    to ``norm_eval=True`` (BN statistics frozen, as detection batches of 2
    per GPU are too small to estimate them), so under mmdet's default scope
    it is True; elsewhere (mmpretrain, plain PyTorch) False, as in
    mmpretrain's ``ResNet`` and for training from scratch.
    """
    if norm_eval is not None:
        if not isinstance(norm_eval, bool):
            raise ValueError(
                f'`norm_eval` must be True, False or None, got {norm_eval!r}')
        return norm_eval
    scope = DefaultScope.get_current_instance()
    return scope is not None and scope.scope_name == 'mmdet'


class ResNetBackbone(ResNetFreezeMixin, ResNet):
    """mmdet's ``ResNet`` as the base of rla_mm's ResNet variants (RLA,
    MRLA-light): its arguments checked with named errors before anything is
    built, the ``norm_eval`` default of :func:`resolve_norm_eval`,
    zero-init of the last norm of any block class, ``frozen_stages`` through
    :class:`ResNetFreezeMixin`, and the stem as ``forward_stem``.

    A variant is a block class plus a few lines (like mmpretrain's
    ``SEResNet``): it lists its blocks in ``arch_settings``, takes its own
    arguments and passes the rest (``**kwargs``) here, and overrides
    ``make_res_layer`` to give its blocks their extra arguments, with
    ``block_init_cfg(block)`` as their ``init_cfg``. Block classes name
    their last norm in ``last_norm``.

    Args:
        norm_eval (bool, optional): See :func:`resolve_norm_eval`.
        Others: as mmdet's ``ResNet``.
    """

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 frozen_stages: int = -1,
                 norm_eval: Optional[bool] = None,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False,
                                                   False),
                 plugins: Optional[list] = None,
                 zero_init_residual: bool = True,
                 init_cfg=None,
                 **kwargs) -> None:
        check_choice('depth', depth, self.arch_settings)
        check_int('in_channels', in_channels)
        if stem_channels is not None:
            check_int('stem_channels', stem_channels)
        check_int('base_channels', base_channels)
        check_int('num_stages', num_stages, 1, 4)
        strides = check_int_sequence('strides', strides, num_stages)
        dilations = check_int_sequence('dilations', dilations, num_stages)
        out_indices = check_out_indices(out_indices, num_stages)
        check_choice('style', style, ('pytorch', 'caffe'))
        check_frozen_stages(frozen_stages, num_stages)
        if dcn is not None and len(stage_with_dcn) != num_stages:
            raise ValueError(f'`stage_with_dcn` must have num_stages='
                             f'{num_stages} entries, got '
                             f'{tuple(stage_with_dcn)}')
        block = self.arch_settings[depth][0]
        if block.expansion == 1 and (dcn is not None or plugins):
            raise ValueError('`dcn` and `plugins` need a Bottleneck depth '
                             f'as in mmdet, got depth={depth}')
        self._zero_init_last_norm = init_cfg is None and zero_init_residual
        super().__init__(
            depth,
            in_channels=in_channels,
            stem_channels=stem_channels,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            style=style,
            frozen_stages=frozen_stages,
            norm_eval=resolve_norm_eval(norm_eval),
            dcn=dcn,
            stage_with_dcn=stage_with_dcn,
            plugins=plugins,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg,
            **kwargs)

    def block_init_cfg(self, block: type) -> Optional[dict]:
        """Zero-init of the block's last norm (``zero_init_residual``),
        which mmdet's ResNet does for its own block classes only."""
        if not self._zero_init_last_norm:
            return None
        return dict(type='Constant', val=0,
                    override=dict(name=block.last_norm))

    def forward_stem(self, x: Tensor) -> Tensor:
        """The stem of mmdet's ResNet (conv, or deep stem, then max-pool)."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)
