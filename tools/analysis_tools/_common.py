"""What benchmark.py, get_flops.py and profile_rla.py share: building a model
from a config or a backbone dict without datasets or pretrained files, the
synthetic inputs a model needs, and one step of inference or training.

A model spec is a config file (``configs/...py`` or ``mmdet::...py``,
``mmpretrain::...py``) or a backbone dict such as
``dict(type='RLAResNet', depth=50)`` (``type='mmdet.ResNet'`` for another
library's class). Only this folder's scripts import it.
"""
import copy
import os
import sys
from typing import Callable, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:  # the tools run from a checkout
    sys.path.insert(0, REPO_ROOT)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file; ``pkg::path`` reads one shipped with mmdet or
    mmpretrain."""
    if '::' in path:
        from mmengine.hub import get_config
        cfg = get_config(path, pretrained=False)
    else:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'config file not found: {path}')
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def drop_pretrained(cfg) -> None:
    """Remove every ``init_cfg``/``pretrained`` so no file is needed."""
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
    import rla_mm  # noqa: F401  (registers rla_mm models)
    import mmdet.models  # noqa: F401
    if isinstance(type_name, str) and type_name.startswith('mmpretrain.'):
        import mmpretrain.models  # noqa: F401


def build_from_config(path: str, cfg_options: Optional[dict] = None
                      ) -> nn.Module:
    """Build ``cfg.model`` with random weights (no init_cfg, no download)."""
    cfg = load_config(path, cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    drop_pretrained(model_cfg)
    scope = cfg.get('default_scope', 'mmdet')
    from mmengine.registry import DefaultScope, init_default_scope
    _import_registries(model_cfg.get('type'))
    if scope == 'mmpretrain':
        import mmpretrain.models  # noqa: F401
    init_default_scope(scope)
    for imp in (cfg.get('custom_imports') or {}).get('imports', []):
        __import__(imp)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)


def build_backbone(backbone_cfg: dict) -> nn.Module:
    """Build a backbone dict with the root registry (``mmdet.ResNet`` etc.
    reach mmdet's/mmpretrain's classes)."""
    cfg = ConfigDict(copy.deepcopy(dict(backbone_cfg)))
    if 'type' not in cfg:
        raise KeyError(f'a backbone dict needs a `type`, got {dict(cfg)}')
    drop_pretrained(cfg)
    _import_registries(cfg['type'])
    from mmengine.registry import MODELS
    return MODELS.build(cfg)


def model_kind(model: nn.Module) -> str:
    """'detector', 'classifier' or 'backbone' (anything called as f(x))."""
    try:
        from mmdet.models.detectors import BaseDetector
        if isinstance(model, BaseDetector):
            return 'detector'
    except ImportError:  # pragma: no cover
        pass
    if hasattr(model, 'loss') and hasattr(model, 'predict') and hasattr(
            model, 'backbone'):
        return 'classifier'
    return 'backbone'


def _det_samples(model: nn.Module, batch: int, height: int, width: int,
                 with_gt: bool) -> list:
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(batch):
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(height, width),
                batch_input_shape=(height, width),
                scale_factor=(1.0, 1.0),
                img_id=0))
        if with_gt:
            boxes = torch.tensor([[0.10, 0.10, 0.50, 0.60],
                                  [0.40, 0.30, 0.90, 0.80],
                                  [0.20, 0.50, 0.45, 0.95]])
            boxes = boxes * torch.tensor([width, height, width, height])
            gt = InstanceData(bboxes=boxes, labels=torch.tensor([0, 1, 0]))
            if getattr(model, 'with_mask', False):
                from mmdet.structures.mask import BitmapMasks
                masks = np.zeros((len(boxes), height, width), np.uint8)
                for m, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist()):
                    m[y1:y2, x1:x2] = 1
                gt.masks = BitmapMasks(masks, height, width)
            sample.gt_instances = gt
        samples.append(sample)
    return samples


def _cls_samples(batch: int) -> list:
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(0) for _ in range(batch)]


def make_inputs(model: nn.Module, batch: int, size: Sequence[int],
                device: str, channels_last: bool, train: bool):
    """(image batch, data samples or None) for one step of ``model``."""
    height, width = size
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, height, width, generator=gen).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    kind = model_kind(model)
    if kind == 'detector':
        samples = _det_samples(model, batch, height, width, train)
        return x, [s.to(device) for s in samples]
    if kind == 'classifier':
        return x, [s.to(device) for s in _cls_samples(batch)]
    return x, None


def _backbone_loss(outs) -> Tensor:
    if isinstance(outs, Tensor):
        outs = (outs, )
    return sum(o.float().mean() for o in outs)


def make_step(model: nn.Module, inputs, train: bool, amp: bool,
              device: str, seed: int = 0) -> Callable[[], None]:
    """A closure running one inference (no_grad) or training step
    (forward + backward, gradients freed first; no optimizer update)."""
    x, samples = inputs
    kind = model_kind(model)
    amp_dtype = torch.float16 if device.startswith('cuda') else torch.bfloat16

    def forward():
        if kind == 'backbone':
            outs = model(x)
            return _backbone_loss(outs) if train else outs
        if train:
            loss, _ = model.parse_losses(model.loss(x, copy.copy(samples)))
            return loss
        return model.predict(x, copy.copy(samples)) if kind == 'detector' \
            else model.predict(x)

    def step():
        torch.manual_seed(seed)  # same sampled proposals every step
        with torch.autocast(device.split(':')[0], dtype=amp_dtype,
                            enabled=amp):
            if train:
                model.zero_grad(set_to_none=True)
                forward().backward()
            else:
                with torch.no_grad():
                    forward()

    return step


def prepare(model: nn.Module, device: str, channels_last: bool,
            train: bool) -> nn.Module:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train(train)
    return model


def bn_train_share(model) -> Optional[float]:
    """Share of the model's BatchNorms that normalise with batch statistics
    in its current mode; None if it has none."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return None
    return sum(m.training for m in norms) / len(norms)


def check_bn_modes(models: dict) -> None:
    """Exit if a model (set to training mode) runs its BatchNorms in another
    mode than ``models['baseline']``: a BN normalising with batch statistics
    costs more in both passes than one with frozen statistics (mmdet's
    ``ResNet`` defaults to ``norm_eval=True``, RLAResNet to False), so a
    training-step ratio would measure that instead of the architecture."""
    shares = {name: bn_train_share(m) for name, m in models.items()}
    base = shares.get('baseline')
    for name, share in shares.items():
        if base is None or share is None or (share > 0) == (base > 0):
            continue  # frozen_stages alone may change the share a little
        which = {True: 'some use batch statistics',
                 False: 'all use frozen statistics'}
        raise SystemExit(
            f"error: in training mode the baseline's BatchNorms "
            f'{which[base > 0]} but those of {name!r} {which[share > 0]} '
            f"(norm_eval differs; mmdet's ResNet defaults to "
            f'norm_eval=True): the training ratio would measure that. Give '
            f'both the same norm_eval (e.g. --baseline-backbone ... '
            f'norm_eval=False), or pass --allow-bn-mode-mismatch.')


class AuthorsRLAForward:
    """The authors' RLA-ResNet forward (their ``RLA_ResNet`` /
    ``RLA_Bottleneck``, ported op for op) run on an ``RLAResNet``'s modules:
    ``cat(x, h)`` into conv1, ``out += identity`` and ReLU in place with y
    aliasing the output, ``AvgPool2d(2, 2)`` on h at strided blocks, h starting
    as a zero tensor, ``h = h + conv_out(y); bn; tanh; recurrent_conv``.
    Install with ``install(backbone)``; a timing baseline only.
    """

    @staticmethod
    def install(backbone: nn.Module) -> None:
        from rla_mm.models import RLAResNet
        if not isinstance(backbone, RLAResNet):
            raise TypeError('the authors\' port runs RLAResNet backbones, '
                            f'got {type(backbone).__name__}')
        backbone.authors_pool = nn.AvgPool2d(2, 2, ceil_mode=True)
        backbone.forward = AuthorsRLAForward._forward.__get__(backbone)

    @staticmethod
    def _block(blk, x, h, pool):
        identity = x
        x = torch.cat((x, h), dim=1)
        out = blk.relu(blk.norm1(blk.conv1(x)))
        if hasattr(blk, 'conv3'):
            out = blk.relu(blk.norm2(blk.conv2(out)))
            out = blk.norm3(blk.conv3(out))
        else:
            out = blk.norm2(blk.conv2(out))
        if blk.eca is not None:
            out = blk.eca(out)
        y = out
        if blk.downsample is not None:
            identity = blk.downsample(identity)
        if blk.stride != 1:
            h = pool(h)
        out += identity
        out = blk.relu(out)
        return out, y, h

    @staticmethod
    def _forward(self, x):
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        batch, _, height, width = x.size()
        h = torch.zeros(batch, self.rla_channel, height, width,
                        device=x.device, dtype=x.dtype)
        outs = []
        for i, name in enumerate(self.res_layers):
            layer = getattr(self, name)
            for j in range(len(layer)):
                x, y, h = AuthorsRLAForward._block(layer[j], x, h,
                                                   self.authors_pool)
                if j < layer.num_updates:
                    rla = layer.rla
                    h = h + rla.conv_out(y)
                    h = rla.norms[j](h)
                    h = torch.tanh(h)
                    h = rla.recurrent_conv(h)
            if i in self.out_indices:
                if self.concat_hidden and i == self.num_stages - 1:
                    x = torch.cat((x, torch.relu(self.hidden_norm(h))), 1)
                outs.append(x)
        return tuple(outs)


def find_backbone(model: nn.Module) -> nn.Module:
    return getattr(model, 'backbone', model)


def parse_kv_tokens(tokens: Sequence[str]) -> dict:
    """``['depth=50', 'out_indices=(3,)']`` -> dict, values parsed like
    ``--cfg-options`` (numbers, bools, None, tuples, lists, strings)."""
    from mmengine.config import DictAction
    out = {}
    for tok in tokens:
        if '=' not in tok:
            raise ValueError(f'expected KEY=VALUE, got {tok!r}')
        key, value = tok.split('=', 1)
        out[key] = DictAction._parse_iterable(value)
    return out
