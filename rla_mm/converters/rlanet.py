"""Convert the RLA-Net authors' released checkpoints to rla_mm checkpoints.

RLA paper: Zhao, Fang and Li, *Recurrence along Depth: Deep Convolutional
Neural Networks with Recurrent Layer Aggregation*, NeurIPS 2021,
arXiv:2110.11852. Sources (the paper's footnote 1 names the authors' code):

- ImageNet classifiers (RLA-ResNet-50/101/152, RLA-ECANet-50/101,
  dsRLA-MobileNetV2 k=32 with and without ECA): a ``.pth.tar`` dict with
  ``state_dict`` (saved from ``DataParallel``: keys prefixed ``module.``),
  ``epoch``, ``arch``, ``best_acc1`` (a tensor) and ``optimizer``. They become
  mmpretrain ``ImageClassifier`` checkpoints (``backbone.*``, ``head.fc.*``).
- MMDetection 2.x detectors: ``backbone.*`` keys in the same layout as the
  ImageNet ones (no ``fc``/``bn2``); the rest of the detector (neck, heads)
  keeps its names, which mmdet 3.x still uses for Faster/Mask R-CNN and
  RetinaNet. They become mmdet 3.x detector checkpoints.

Files are read with ``torch.load(weights_only=True)`` (they come from
file-sharing links: nothing but tensors and plain containers is unpickled).
The architecture is detected from the keys, every key is mapped to rla_mm's
layout, and the result is checked key for key and shape for shape against the
rla_mm model it is meant for, built from the metadata the converter writes
(``meta['backbone']``, ``meta['head']``). Unknown or missing keys raise
``KeyError`` naming the key, wrong shapes ``ValueError`` naming key and shapes,
an unreadable file ``ValueError`` naming the path. The output is written to a
temporary file and renamed (nothing half-written is ever left at DST).

Behaviour that the weights need (recorded in ``meta['backbone']``):

- RLA-ResNet: ``rla_source='output'`` (the authors' block sets ``y = out``
  before an in-place ``out += identity; out = relu(out)``).
- dsRLA-MobileNetV2: the authors build one depthwise recurrent conv and reuse
  it in all five stages; their checkpoint holds five identical copies
  (``recurrent_dsconvs.0..4``). rla_mm has one conv per stage (the paper),
  each filled from the copy of its stage, so the outputs are identical. Copies
  that differ mean the file was not produced by that code: refused.
"""
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Tuple

import torch

from .common import (CheckpointFamily, build_target, check_and_fill,
                     check_destination, classifier_target, finish_conversion,
                     load_weights_only, register_family, source_meta,
                     split_detector)
from .rlanet_variants import (VARIANT_LAYOUTS, VARIANT_OPTIONS,
                              arch_of_checkpoint, check_arch_depth,
                              is_widened_resnet, parse_arch, resolve_variant,
                              variant_rules, widened_backbone_cfg)

MODEL_TYPES = ('auto', 'rla_resnet', 'rla_mobilenet_v2')

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
#: ResNet depth from (blocks per stage, bottleneck?).
_RESNET_DEPTHS = {
    ((2, 2, 2, 2), False): 18,
    ((3, 4, 6, 3), False): 34,
    ((3, 4, 6, 3), True): 50,
    ((3, 4, 23, 3), True): 101,
    ((3, 8, 36, 3), True): 152,
}
_MBV2_WIDEN_FACTORS = (1.0, 0.35, 0.5, 0.75, 1.3, 1.4)


# ----------------------------------------------------------------- reading
def load_rlanet_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read SRC safely (see :func:`~rla_mm.converters.common.
    load_weights_only`); kept under its old name."""
    return load_weights_only(path)


# -------------------------------------------------------------- detection
def _stages(sd: dict, prefix: str = 'stages') -> List[int]:
    """Number of blocks in each ``stages.i`` of the source."""
    counts: Dict[int, int] = {}
    for key in sd:
        m = re.match(rf'{prefix}\.(\d+)\.(\d+)\.', key)
        if m:
            i, j = int(m[1]), int(m[2])
            counts[i] = max(counts.get(i, 0), j + 1)
    if sorted(counts) != list(range(len(counts))):
        raise KeyError(f'stages are not numbered 0..n-1: {sorted(counts)}')
    return [counts[i] for i in range(len(counts))]


def _require(sd: dict, key: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise KeyError(f'missing key {key!r} ({what})')
    return sd[key]


def detect_model_type(sd: dict) -> str:
    if 'recurrent_dsconvs.0.weight' in sd:
        return 'rla_mobilenet_v2'
    if any(k.startswith('recurrent_convs.0.') for k in sd) or \
            'stages.0.0.conv_out.weight' in sd or is_widened_resnet(sd):
        return 'rla_resnet'  # the main model or one of its variants
    raise KeyError('cannot detect the architecture: neither '
                   '`recurrent_convs.0.weight` (RLA-ResNet) nor '
                   '`recurrent_dsconvs.0.weight` (dsRLA-MobileNetV2) is in '
                   'the state dict')


def _eca_kernels(sd: dict, num_stages: int, key_fmt: str) -> Optional[tuple]:
    kernels = [
        sd[key_fmt.format(i)].shape[-1] if key_fmt.format(i) in sd else None
        for i in range(num_stages)
    ]
    if all(k is None for k in kernels):
        return None
    if any(k is None for k in kernels):
        missing = key_fmt.format(kernels.index(None))
        raise KeyError(f'missing key {missing!r}: ECA is in some stages only')
    return tuple(int(k) for k in kernels)


def resnet_backbone_cfg(sd: dict) -> dict:
    """RLAResNet arguments that the authors' RLA-ResNet state dict needs."""
    blocks = tuple(_stages(sd))
    bottleneck = 'stages.0.0.conv3.weight' in sd
    depth = _RESNET_DEPTHS.get((blocks, bottleneck))
    if depth is None:
        known = sorted(set(_RESNET_DEPTHS.values()))
        raise KeyError(f'no RLA-ResNet has {blocks} '
                       f'{"Bottleneck" if bottleneck else "BasicBlock"}s per '
                       f'stage (known depths: {known})')
    k_key = 'stages.0.0.conv_out.weight' \
        if 'stages.0.0.conv_out.weight' in sd else 'conv_outs.0.weight'
    k = _require(sd, k_key, 'RLA 1x1 conv').shape[0]
    cfg = dict(type='RLAResNet', depth=depth, rla_channel=int(k))
    eca = _eca_kernels(sd, len(blocks), 'stages.{}.0.eca.conv.weight')
    if eca is not None:
        cfg['eca_kernel_sizes'] = list(eca)
    cfg['rla_source'] = 'output'  # what the authors' blocks compute
    return cfg


def mobilenet_backbone_cfg(sd: dict) -> dict:
    """RLAMobileNetV2 arguments that the authors' state dict needs."""
    from mmpretrain.models.utils import make_divisible

    from ..models import RLAMobileNetV2
    groups = _stages(sd)
    want = [n for _, _, n, _ in RLAMobileNetV2.arch_settings]
    if groups != want:
        raise KeyError(f'dsRLA-MobileNetV2 has {want} blocks per group, the '
                       f'state dict {groups}')
    stem = _require(sd, 'conv1.0.weight', 'stem conv').shape[0]
    last = _require(sd, 'stages.6.0.conv.1.weight',
                    'last projection conv').shape[0]
    widen = next((w for w in _MBV2_WIDEN_FACTORS
                  if make_divisible(32 * w, 8) == stem
                  and make_divisible(320 * w, 8) == last), None)
    if widen is None:
        raise ValueError(f'no widen factor gives a {stem}-channel stem and a '
                         f'{last}-channel last group')
    k = _require(sd, 'conv_outs.0.weight', 'RLA 1x1 conv').shape[0]
    cfg = dict(type='RLAMobileNetV2', widen_factor=widen, rla_channel=int(k))
    eca = _eca_kernels(sd, len(groups), 'stages.{}.0.conv.3.conv.weight')
    if eca is not None:
        rule = tuple(1 if c < 96 else 3
                     for _, c, _, _ in RLAMobileNetV2.arch_settings)
        if eca == rule:
            cfg['with_eca'] = True
        else:
            cfg['eca_kernel_sizes'] = list(eca)
    # See docs/rla_checkpoints.md: the released files do not pin y down.
    cfg['rla_source'] = 'residual'
    _check_shared_recurrent_conv(sd)
    return cfg


def _check_shared_recurrent_conv(sd: dict) -> None:
    keys = sorted((k for k in sd if re.fullmatch(
        r'recurrent_dsconvs\.\d+\.weight', k)), key=lambda k: int(
            k.split('.')[1]))
    for key in keys[1:]:
        if sd[key].shape != sd[keys[0]].shape or not torch.equal(
                sd[key], sd[keys[0]]):
            raise ValueError(
                f'{key!r} differs from {keys[0]!r}: the authors\' '
                'dsRLA-MobileNetV2 shares one recurrent conv between all '
                'stages, so their checkpoints hold identical copies')


# --------------------------------------------------------------- key maps
def _rules_resnet() -> List[Tuple[str, Callable]]:
    s1 = lambda m: int(m[1]) + 1  # noqa: E731  (stages.i -> layer{i+1})
    return [
        (r'conv1\.weight', lambda m: 'conv1.weight'),
        (rf'bn1\.{_BN}', lambda m: f'bn1.{m[1]}'),
        (rf'stages\.(\d+)\.(\d+)\.(conv[123]\.weight|bn[123]\.{_BN}|'
         rf'downsample\.0\.weight|downsample\.1\.{_BN}|eca\.conv\.weight)',
         lambda m: f'layer{s1(m)}.{m[2]}.{m[3]}'),
        (r'conv_outs\.(\d+)\.weight',
         lambda m: f'layer{s1(m)}.rla.conv_out.weight'),
        (r'recurrent_convs\.(\d+)\.weight',
         lambda m: f'layer{s1(m)}.rla.recurrent_conv.weight'),
        (rf'stage_bns\.(\d+)\.(\d+)\.{_BN}',
         lambda m: f'layer{s1(m)}.rla.norms.{m[2]}.{m[3]}'),
        (rf'bn2\.{_BN}', lambda m: f'hidden_norm.{m[1]}'),
    ]


def _rules_mobilenet() -> List[Tuple[str, Callable]]:
    g1 = lambda m: int(m[1]) + 1  # noqa: E731  (stages.g -> layer{g+1})
    blk = r'stages\.(\d+)\.(\d+)\.'
    return [
        (r'conv1\.0\.weight', lambda m: 'conv1.conv.weight'),
        (rf'conv1\.1\.{_BN}', lambda m: f'conv1.bn.{m[1]}'),
        (blk + r'conv1x1\.0\.weight',
         lambda m: f'layer{g1(m)}.{m[2]}.expand_conv.conv.weight'),
        (blk + rf'conv1x1\.1\.{_BN}',
         lambda m: f'layer{g1(m)}.{m[2]}.expand_conv.bn.{m[3]}'),
        (blk + r'conv\.0\.0\.weight',
         lambda m: f'layer{g1(m)}.{m[2]}.depthwise_conv.conv.weight'),
        (blk + rf'conv\.0\.1\.{_BN}',
         lambda m: f'layer{g1(m)}.{m[2]}.depthwise_conv.bn.{m[3]}'),
        (blk + r'conv\.1\.weight',
         lambda m: f'layer{g1(m)}.{m[2]}.linear_conv.conv.weight'),
        (blk + rf'conv\.2\.{_BN}',
         lambda m: f'layer{g1(m)}.{m[2]}.linear_conv.bn.{m[3]}'),
        (blk + r'conv\.3\.conv\.weight',
         lambda m: f'layer{g1(m)}.{m[2]}.eca.conv.weight'),
        (r'conv_outs\.(\d+)\.weight',
         lambda m: f'layer{g1(m)}.rla.conv_out.weight'),
        (rf'stage_bns\.(\d+)\.(\d+)\.{_BN}',
         lambda m: f'layer{g1(m)}.rla.norms.{m[2]}.{m[3]}'),
        (r'recurrent_dsconvs\.(\d+)\.weight',
         lambda m: f'recurrent_convs.{m[1]}.weight'),
        (r'conv2\.0\.weight', lambda m: 'conv2.conv.weight'),
        (rf'conv2\.1\.{_BN}', lambda m: f'conv2.bn.{m[1]}'),
        (rf'bn2\.{_BN}', lambda m: f'hidden_norm.{m[1]}'),
    ]


_HEAD_KEYS = {
    'rla_resnet': {'fc.weight': 'weight', 'fc.bias': 'bias'},
    'rla_mobilenet_v2': {
        'classifier.1.weight': 'weight',
        'classifier.1.bias': 'bias'
    },
}
#: Target keys a detection-mode backbone does not build (the last h update
#: and what only classification reads); their source values are dropped.
_DETECTION_ONLY_MISSING = re.compile(
    r'(layer\d+\.rla\..*|recurrent_convs\.\d+\..*|hidden_norm\..*|conv2\..*)')


def map_backbone_keys(sd: dict, model_type: str,
                      layout: str = 'main') -> Dict[str, str]:
    """Source key -> rla_mm backbone key, for every backbone key of ``sd``
    (``layout``: of an RLA-ResNet variant, ``rlanet_variants.py``).

    Raises KeyError naming the first key that no rule knows.
    """
    if model_type != 'rla_resnet':
        rules = _rules_mobilenet()
    elif layout == 'widened':
        rules = variant_rules(layout)
    else:
        rules = variant_rules(layout) + _rules_resnet()
    mapping = {}
    for key in sd:
        for pattern, target in rules:
            m = re.fullmatch(pattern, key)
            if m:
                mapping[key] = target(m)
                break
        else:
            raise KeyError(f'unknown key {key!r} for {model_type}')
    return mapping


# ------------------------------------------------------------------ main
def convert_rlanet_checkpoint(src: str,
                              dst: Optional[str] = None,
                              model_type: str = 'auto',
                              config: Optional[str] = None,
                              force: bool = False,
                              arch: Optional[str] = None) -> dict:
    """Convert SRC (the authors' format) and write DST atomically.

    Args:
        src: the authors' ImageNet ``.pth.tar`` or MMDetection 2.x detector.
        dst: output path; if None, nothing is written (check only).
        model_type: 'auto' (from the keys), 'rla_resnet' or
            'rla_mobilenet_v2'.
        config: optional rla_mm config (mmdet 3.x / mmpretrain) whose
            ``model`` the whole converted state dict must match (detector
            necks and heads are otherwise only renamed, not checked).
        force: allow DST to be SRC itself (the original is replaced).
        arch: the authors' model function the file was trained with
            (``rlav2_resnet50``, ``rlalstm_resnet50``, ``resnet50_k``...),
            for the ablation variants whose keys do not tell (the main
            model and v1-v6 share them); default: the file's ``arch``
            field, else detected from the keys (``rlanet_variants.py``).

    Returns:
        The checkpoint that was (or would be) written.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f'`model_type` must be one of {MODEL_TYPES}, got '
                         f'{model_type!r}')
    check_destination(src, dst, force)
    sd, ckpt = load_weights_only(src)
    backbone_sd, rest = split_detector(sd)
    is_detector = bool(backbone_sd)
    if is_detector:
        head_sd = {}
    else:
        head_keys = _HEAD_KEYS.get(
            detect_model_type(sd) if model_type == 'auto' else model_type, {})
        head_sd = {k: v for k, v in sd.items() if k in head_keys}
        backbone_sd = {k: v for k, v in sd.items() if k not in head_keys}
        rest = {}
    if model_type == 'auto':
        model_type = detect_model_type(backbone_sd)
    if arch is not None:
        parse_arch(arch)  # a named error before anything else
    layout = 'main'
    if model_type == 'rla_resnet':
        # the file's own arch names the variant; only --arch must also
        # name the file's depth (released files say rla_resnet50 for all)
        variant, _ = resolve_variant(
            backbone_sd, arch or arch_of_checkpoint(ckpt), is_detector)
        layout = VARIANT_LAYOUTS[variant]
        backbone = widened_backbone_cfg(backbone_sd, _RESNET_DEPTHS) \
            if layout == 'widened' else resnet_backbone_cfg(backbone_sd)
        backbone.update(VARIANT_OPTIONS[variant])
        check_arch_depth(arch, backbone['depth'])
    else:
        backbone = mobilenet_backbone_cfg(backbone_sd)
    mapping = map_backbone_keys(backbone_sd, model_type, layout)
    mapped = {f'backbone.{dst_key}': (src_key, backbone_sd[src_key])
              for src_key, dst_key in mapping.items()}

    meta = dict(
        converted_by='tools/model_converters/rlanet2rla_mm.py',
        source=osp.basename(src),
        model_type=model_type)
    if is_detector:
        meta['source_format'] = 'mmdet2_detector'
        backbone['out_indices'] = [0, 1, 2, 3] if model_type == 'rla_resnet' \
            else [1, 2, 4, 6]
        backbone['concat_hidden'] = False
        target_sd = {
            f'backbone.{k}': v
            for k, v in build_target(backbone).state_dict().items()
        }
        state_dict, dropped = check_and_fill(
            target_sd, mapped, _DETECTION_ONLY_MISSING, prefix='backbone.')
        state_dict.update(rest)  # neck / heads: same names in mmdet 3.x
    else:
        meta['source_format'] = 'rlanet_imagenet'
        backbone['out_indices'] = [3] if model_type == 'rla_resnet' else [7]
        backbone['concat_hidden'] = layout != 'widened'  # h joins the head
        head_map = _HEAD_KEYS[model_type]
        weight_key = next(k for k, v in head_map.items() if v == 'weight')
        fc_w = _require(head_sd, weight_key, 'classifier')
        for src_key, name in head_map.items():
            mapped[f'head.fc.{name}'] = (src_key,
                                         _require(head_sd, src_key,
                                                  'classifier'))
        model, meta['head'] = classifier_target(backbone, fc_w, weight_key)
        state_dict, dropped = check_and_fill(model.state_dict(), mapped)
    meta.update(source_meta(ckpt))
    if arch is not None:
        meta['arch'] = arch
    meta['backbone'] = backbone
    if dropped:
        meta['dropped_keys'] = dropped
    return finish_conversion(state_dict, meta, config, dst)


def is_rlanet_checkpoint(state_dict: dict) -> bool:
    """True for the authors' layout (``conv_outs.i`` or, unshared,
    ``stages.i.j.conv_out`` beside ``stages.i.j``; detector files under
    ``backbone.``; their widened ResNet ``resnet_k``), False for rla_mm's own
    files (``layerN.rla.conv_out``)."""
    backbone_sd, _ = split_detector(state_dict)
    keys = backbone_sd or state_dict
    rla = 'conv_outs.0.weight' in keys or 'stages.0.0.conv_out.weight' in keys
    return (rla and any(k.startswith('stages.0.0.') for k in keys)) or \
        is_widened_resnet(keys)


RLANET = register_family(
    CheckpointFamily(
        name='rlanet',
        description="the RLA-Net authors' RLA-ResNet / RLA-ECANet / "
        'dsRLA-MobileNetV2 files (ImageNet .pth.tar or MMDetection 2.x)',
        detect=is_rlanet_checkpoint,
        convert=convert_rlanet_checkpoint,
        command='python tools/model_converters/rlanet2rla_mm.py SRC DST'))
