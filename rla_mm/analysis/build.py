"""Build a model to measure from a config file or a backbone dict.

A model spec is either a config file (``configs/...py``, or one shipped with a
library: ``mmdet::faster_rcnn/...py``, ``mmpretrain::resnet/...py``) whose
``model`` is built, or a backbone dict such as
``dict(type='RLAResNet', depth=50)`` (``type='mmdet.ResNet'`` reaches another
library's class through mmengine's root registry). Every ``init_cfg`` /
``pretrained`` is dropped first: the analysis tools measure architectures
with random weights and need no file and no download.

Example:
    >>> model = build_backbone(dict(type='RLAResNet', depth=18))
    >>> model_kind(model)
    'backbone'
    >>> parse_kv_tokens(['depth=50', 'out_indices=(3,)'])
    {'depth': 50, 'out_indices': (3,)}
"""
import copy
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict
from torch import nn

__all__ = [
    'load_config', 'drop_pretrained', 'build_from_config', 'build_backbone',
    'find_backbone', 'model_kind', 'parse_kv_tokens'
]


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file; ``pkg::path`` reads one shipped with mmdet or
    mmpretrain.

    Args:
        path (str): Config file, or ``mmdet::...py`` / ``mmpretrain::...py``.
        cfg_options (dict, optional): Overrides, as ``--cfg-options`` gives.

    Raises:
        FileNotFoundError: If ``path`` is a local file that does not exist.
    """
    if '::' in path:
        from mmengine.hub import get_config
        cfg = get_config(path, pretrained=False)
    else:
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file not found: {path}')
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def drop_pretrained(cfg) -> None:
    """Set every ``init_cfg`` / ``pretrained`` in a nested config to None
    (in place), so building the model reads no file."""
    if isinstance(cfg, dict):
        for key in ('init_cfg', 'pretrained'):
            if key in cfg:
                cfg[key] = None
        for value in cfg.values():
            drop_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            drop_pretrained(value)


def _import_registries(type_name) -> None:
    """Import what registers the classes a spec may name."""
    import mmdet.models  # noqa: F401

    import rla_mm  # noqa: F401  (registers rla_mm's models)
    if isinstance(type_name, str) and type_name.startswith('mmpretrain.'):
        import mmpretrain.models  # noqa: F401


def build_from_config(path: str,
                      cfg_options: Optional[dict] = None) -> nn.Module:
    """Build ``cfg.model`` of a config with random weights.

    Args:
        path (str): Config file (see :func:`load_config`).
        cfg_options (dict, optional): Overrides of the config.

    Returns:
        nn.Module: The detector / classifier, in the config's default scope.
    """
    from mmengine.registry import MODELS, DefaultScope, init_default_scope
    cfg = load_config(path, cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    drop_pretrained(model_cfg)
    scope = cfg.get('default_scope', 'mmdet')
    _import_registries(model_cfg.get('type'))
    if scope == 'mmpretrain':
        import mmpretrain.models  # noqa: F401
    init_default_scope(scope)
    for module in (cfg.get('custom_imports') or {}).get('imports', []):
        __import__(module)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)


def build_backbone(backbone_cfg: dict) -> nn.Module:
    """Build a backbone dict with mmengine's root registry.

    Args:
        backbone_cfg (dict): ``type`` plus arguments, e.g.
            ``dict(type='mmdet.ResNet', depth=50, norm_eval=False)``.

    Raises:
        ValueError: If the dict has no ``type``.
    """
    from mmengine.registry import MODELS
    cfg = ConfigDict(copy.deepcopy(dict(backbone_cfg)))
    if 'type' not in cfg:
        raise ValueError(
            f'a backbone dict needs a `type` (e.g. type=RLAResNet), got '
            f'{dict(cfg)}')
    drop_pretrained(cfg)
    _import_registries(cfg['type'])
    return MODELS.build(cfg)


def find_backbone(model: nn.Module) -> nn.Module:
    """``model.backbone`` for a detector / classifier, else ``model``."""
    return getattr(model, 'backbone', model)


def model_kind(model: nn.Module) -> str:
    """``'detector'``, ``'classifier'`` or ``'backbone'`` (anything called as
    ``model(x)``), which decides the inputs and the step of a model."""
    from mmdet.models.detectors import BaseDetector
    if isinstance(model, BaseDetector):
        return 'detector'
    if hasattr(model, 'loss') and hasattr(model, 'predict') and hasattr(
            model, 'backbone'):
        return 'classifier'
    return 'backbone'


def parse_kv_tokens(tokens: Sequence[str]) -> dict:
    """``['depth=50', 'out_indices=(3,)']`` -> dict, values parsed as
    ``--cfg-options`` parses them (numbers, bools, None, tuples, lists,
    strings).

    Raises:
        ValueError: If a token has no ``=``.
    """
    from mmengine.config import DictAction
    out = {}
    for token in tokens:
        if '=' not in token:
            raise ValueError(f'expected KEY=VALUE, got {token!r}')
        key, value = token.split('=', 1)
        out[key] = DictAction._parse_iterable(value)
    return out
