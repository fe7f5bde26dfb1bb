"""Where rla_mm registers its modules.

rla_mm registers every model component ONCE, in mmengine's root ``MODELS``
registry. Both ``mmdet.registry.MODELS`` and ``mmpretrain.registry.MODELS`` are
children of that root, and a child registry falls back to its parent when a
type is not its own, so the same class builds from all three registries and
under any ``default_scope`` ('mmdet', 'mmpretrain' or none). mmcv's
``build_conv_layer``/``build_norm_layer`` also look conv/norm types up in the
root, which is what lets ``conv_cfg=dict(type='CRC', ...)`` work inside any
mmdet/mmpretrain module.
"""
from mmengine.registry import MODELS

__all__ = ['MODELS']
