"""Convert the MRLA authors' MRLA-light ResNet checkpoints to rla_mm.

MRLA paper: Fang, Cai, Chen, Zhao, Tian, Li, *Cross-Layer Retrospective
Retrieving via Layer Attention*, ICLR 2023, arXiv:2302.03985 (MRLA-light,
Eq. 8). The authors publish code but no weights; a file trained with it is
one of:

- an ImageNet classifier saved by their ``train.py``: a ``.pth.tar`` dict with
  ``state_dict`` (from ``DataParallel``: keys prefixed ``module.``),
  ``epoch``, ``best_acc1`` (a tensor), ``optimizer`` and possibly ``arch``.
  It becomes an mmpretrain ``ImageClassifier`` checkpoint (``backbone.*``,
  ``head.fc.*``) of ``MRLAResNet`` + GAP + linear head.
- an MMDetection 2.x detector with their MRLA-light backbone: ``backbone.*``
  keys in the same layout without ``fc``; neck and heads keep their names
  (mmdet 3.x uses the same ones for Faster/Mask R-CNN and RetinaNet). It
  becomes an mmdet 3.x detector checkpoint.

Their backbone uses torchvision's names, which are mmdet ResNet's too
(``conv1``, ``bn1``, ``layerI.J.conv1..3``, ``bn1..3``, ``downsample.0/1``);
only the MRLA-light parameters move::

    layerI.J.mrla.mrla.Wq.weight -> layerI.J.mrla.query_conv.weight
    layerI.J.mrla.mrla.Wk.weight -> layerI.J.mrla.key_conv.weight
    layerI.J.mrla.mrla.Wv.weight -> layerI.J.mrla.value_conv.weight
    layerI.J.mrla.lambda_t       -> layerI.J.mrla.lambda_t
    layerI.J.bn_mrla.*           -> layerI.J.mrla.bn.*
    fc.*                         -> head.fc.*

``MRLAResNet``'s defaults (``recurrence='shortcut'``, 32 channels per head,
ECA-rule kernels) are what their code computes, so ``meta['backbone']`` only
records the depth. The loading, key/shape checks, dispatch and atomic write
are :mod:`rla_mm.converters.common`'s, as for the RLA-Net files.
"""
import os.path as osp
import re
from typing import Dict, Optional

import torch

from ..models.backbones.mrla_resnet import MRLABottleneck, MRLAResNet
from .common import (CheckpointFamily, build_target, check_and_fill,
                     check_destination, classifier_target, finish_conversion,
                     load_weights_only, register_family, source_meta,
                     split_detector)

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_BLOCK = r'layer([1-4])\.(\d+)\.'
#: source key pattern -> rla_mm key template (groups of the match)
_RULES = (
    (r'conv1\.weight', 'conv1.weight'),
    (rf'bn1\.{_BN}', 'bn1.{0}'),
    (_BLOCK + rf'(conv[123]\.weight|bn[123]\.{_BN}|downsample\.0\.weight|'
     rf'downsample\.1\.{_BN})', 'layer{0}.{1}.{2}'),
    (_BLOCK + r'mrla\.mrla\.Wq\.weight',
     'layer{0}.{1}.mrla.query_conv.weight'),
    (_BLOCK + r'mrla\.mrla\.Wk\.weight', 'layer{0}.{1}.mrla.key_conv.weight'),
    (_BLOCK + r'mrla\.mrla\.Wv\.weight',
     'layer{0}.{1}.mrla.value_conv.weight'),
    (_BLOCK + r'mrla\.lambda_t', 'layer{0}.{1}.mrla.lambda_t'),
    (_BLOCK + rf'bn_mrla\.{_BN}', 'layer{0}.{1}.mrla.bn.{2}'),
)
_HEAD = {'fc.weight': 'head.fc.weight', 'fc.bias': 'head.fc.bias'}
#: MRLA-light ResNet depth from blocks per stage (Bottleneck depths only:
#: the authors' code has no BasicBlock variant).
_DEPTHS = {
    blocks: depth
    for depth, (block, blocks) in MRLAResNet.arch_settings.items()
    if block is MRLABottleneck
}


def authors_to_rla_mm_backbone(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Rename the authors' backbone keys to ``MRLAResNet``'s (no ``fc``, no
    ``module.``/``backbone.`` prefix); tensors are not copied.

    Raises:
        KeyError: a key that no rule knows (named).
    """
    out = {}
    for key, value in state_dict.items():
        for pattern, template in _RULES:
            m = re.fullmatch(pattern, key)
            if m:
                out[template.format(*m.groups())] = value
                break
        else:
            raise KeyError(f'unknown key {key!r} for an MRLA-light ResNet')
    return out


def mrla_backbone_cfg(state_dict: dict) -> dict:
    """``MRLAResNet`` arguments for the authors' backbone state dict."""
    counts: Dict[int, int] = {}
    for key in state_dict:
        m = re.match(_BLOCK + 'conv1', key)
        if m:
            stage, block = int(m[1]), int(m[2])
            counts[stage] = max(counts.get(stage, 0), block + 1)
    blocks = tuple(counts.get(i, 0) for i in range(1, 5))
    if blocks not in _DEPTHS:
        raise KeyError(f'no MRLA-light ResNet has {blocks} Bottlenecks per '
                       f'stage (known depths: {sorted(_DEPTHS.values())})')
    if 'layer1.0.conv3.weight' not in state_dict:
        raise KeyError("missing key 'layer1.0.conv3.weight': the authors' "
                       'MRLA-light ResNets are built of Bottlenecks')
    return dict(type='MRLAResNet', depth=_DEPTHS[blocks])


def is_mrla_checkpoint(state_dict: dict) -> bool:
    """True for the authors' layout (``mrla.mrla.Wq`` in a block; detector
    files under ``backbone.``), False for rla_mm's own files
    (``mrla.query_conv``) and for every other family."""
    backbone_sd, _ = split_detector(state_dict)
    return any(re.fullmatch(_BLOCK + r'mrla\.mrla\.Wq\.weight', k)
               for k in (backbone_sd or state_dict))


def convert_mrla_checkpoint(src: str,
                            dst: Optional[str] = None,
                            config: Optional[str] = None,
                            force: bool = False,
                            model_type: str = 'auto') -> dict:
    """Convert SRC (the MRLA authors' format) and write DST atomically.

    Args:
        src: an ImageNet ``.pth.tar`` from their ``train.py`` or an
            MMDetection 2.x detector checkpoint.
        dst: output path; if None, nothing is written (check only).
        config: optional rla_mm config whose ``model`` the whole converted
            state dict must match (detector necks and heads are otherwise
            only carried over).
        force: allow DST to be SRC itself (the original is replaced).
        model_type: 'auto' or 'mrla_resnet' (the only architecture; accepted
            so that the RLA-Net CLI's option passes through).

    Returns:
        The checkpoint that was (or would be) written.
    """
    if model_type not in ('auto', 'mrla_resnet'):
        raise ValueError("`model_type` must be one of ('auto', "
                         f"'mrla_resnet') for MRLA files, got {model_type!r}")
    check_destination(src, dst, force)
    sd, ckpt = load_weights_only(src)
    backbone_sd, rest = split_detector(sd)
    is_detector = bool(backbone_sd)
    if not is_detector:
        rest = {k: v for k, v in sd.items() if k in _HEAD}
        backbone_sd = {k: v for k, v in sd.items() if k not in _HEAD}
    backbone = mrla_backbone_cfg(backbone_sd)
    renamed = authors_to_rla_mm_backbone(backbone_sd)
    src_keys = dict(zip(renamed, backbone_sd))  # ours -> theirs, in order
    mapped = {f'backbone.{k}': (src_keys[k], v) for k, v in renamed.items()}
    meta = dict(converted_by='tools/model_converters/rlanet2rla_mm.py',
                source=osp.basename(src), model_type='mrla_resnet')
    if is_detector:
        meta['source_format'] = 'mmdet2_detector'
        backbone['out_indices'] = [0, 1, 2, 3]
        target_sd = {f'backbone.{k}': v
                     for k, v in build_target(backbone).state_dict().items()}
        state_dict, _ = check_and_fill(target_sd, mapped)
        state_dict.update(rest)  # neck / heads: same names in mmdet 3.x
    else:
        meta['source_format'] = 'mrla_imagenet'
        backbone['out_indices'] = [3]
        if 'fc.weight' not in rest or 'fc.bias' not in rest:
            raise KeyError("missing key 'fc.weight'/'fc.bias' (classifier) "
                           'in an ImageNet MRLA-light file')
        for src_key, dst_key in _HEAD.items():
            mapped[dst_key] = (src_key, rest[src_key])
        model, meta['head'] = classifier_target(backbone, rest['fc.weight'],
                                                'fc.weight')
        state_dict, _ = check_and_fill(model.state_dict(), mapped)
    meta.update(source_meta(ckpt))
    meta['backbone'] = backbone
    return finish_conversion(state_dict, meta, config, dst)


MRLA = register_family(
    CheckpointFamily(
        name='mrla',
        description="the MRLA authors' MRLA-light ResNet-50/101/152 files "
        '(ImageNet .pth.tar from their train.py, or MMDetection 2.x)',
        detect=is_mrla_checkpoint,
        convert=convert_mrla_checkpoint,
        command='python tools/model_converters/rlanet2rla_mm.py SRC DST'))
