"""The RLA authors' ablation variants, for the checkpoint converter.

RLA paper (Zhao, Fang and Li, *Recurrence along Depth: Deep Convolutional
Neural Networks with Recurrent Layer Aggregation*, NeurIPS 2021,
arXiv:2110.11852), Sec. 4.4, Table 11, Table 15. The authors published each
ImageNet variant as its own model file in ``fangyanwen1106/RLANet``
(``models/resnet_rla_v1.py`` .. ``_v6.py``, ``resnet_k.py``,
``resnet_rla_rh.py``, ``resnet_rla_us.py``, ``resnet_rla_v1post.py``,
``resnet_rla_lstm.py``, ``resnet_rla_gru.py``); rla_mm builds every one of
them as options of ``RLAResNet`` (:data:`VARIANT_OPTIONS`, what the authors'
code computes, which is not always what the paper's Fig. 4 describes: in
their v1-v4 the in-place residual addition makes y the block output, so v3
computes v1 and v4 computes v2).

Their ``train.py`` saves ``epoch``, ``state_dict`` (``module.`` keys),
``best_acc1`` and ``optimizer``, no ``arch``. Where the keys identify the
variant (:func:`detect_layout`) it is detected; the main model and v1-v6
share one layout, and there the authors' model-function name (``arch``: the
released files carry it, ``--arch`` gives it) decides.
"""
import re
from typing import Callable, Dict, List, Optional, Tuple

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'

#: What each of the authors' variants needs of ``RLAResNet``, by the prefix
#: of their model functions (``rlav2_resnet50`` -> ``'rlav2'``).
VARIANT_OPTIONS: Dict[str, dict] = {
    'rla': {},  # the proposed RLA-v1, the released weights
    'rlav1': dict(hidden_act='tanh'),  # tanh(bn2(h)) before the FC
    'rlav2': dict(rla_update='post'),
    'rlav3': {},  # y = x_j: what their v1 computes too
    'rlav4': dict(rla_update='post'),
    'rlav5': dict(rla_source='shortcut'),
    'rlav6': dict(rla_source='shortcut', rla_update='post'),
    'rlarh': dict(rla_exchange=False),
    'rlaus': dict(rla_shared=False, rla_source='residual'),
    'rlav1p': dict(rla_cell='postact'),
    'rlalstm': dict(rla_cell='convlstm'),
    'rlagru': dict(rla_cell='convgru'),
    'resnet_k': dict(type='WidenedResNet'),
}
#: The key layout each variant's state dict has.
VARIANT_LAYOUTS = {
    'rla': 'main', 'rlav1': 'main', 'rlav2': 'main', 'rlav3': 'main',
    'rlav4': 'main', 'rlav5': 'main', 'rlav6': 'main',
    'rlarh': 'no_exchange', 'rlaus': 'unshared', 'rlav1p': 'postact',
    'rlalstm': 'convlstm', 'rlagru': 'convgru', 'resnet_k': 'widened',
}
_ARCH = re.compile(r'(?P<v>[a-z0-9]+?)_resnet(?P<d>\d+)(?P<eca>_eca)?'
                   r'|resnet(?P<kd>\d+)_k')


def parse_arch(arch: str) -> Tuple[str, int]:
    """(variant, depth) of an authors' model-function name such as
    ``rlav2_resnet50``, ``rla_resnet101_eca`` or ``resnet50_k``.

    Raises:
        ValueError: not one of theirs (the message lists the forms).
    """
    m = _ARCH.fullmatch(arch or '')
    variant = 'resnet_k' if m and m['kd'] else m and m['v']
    if not m or variant not in VARIANT_OPTIONS:
        forms = ', '.join(f'{v}_resnet50' for v in VARIANT_OPTIONS
                          if v != 'resnet_k')
        raise ValueError(f'`arch` must be one of the RLA authors\' model '
                         f'functions ({forms}, resnet50_k; other depths and '
                         f'_eca where they define them), got {arch!r}')
    return variant, int(m['kd'] or m['d'])


def arch_of_checkpoint(ckpt: dict) -> Optional[str]:
    """The file's own ``arch`` field if it names an RLA-ResNet variant of
    the authors (their released files carry one; ``train.py``'s do not)."""
    arch = ckpt.get('arch')
    if not isinstance(arch, str) or not _ARCH.fullmatch(arch):
        return None  # e.g. a MobileNet name: the keys decide
    return arch


def check_arch_depth(arch: Optional[str], depth: int) -> None:
    """Refuse an ``arch`` whose ResNet depth is not the file's."""
    if arch is not None and parse_arch(arch)[1] != depth:
        raise ValueError(f'--arch {arch} is a ResNet-{parse_arch(arch)[1]}, '
                         f"but the file's keys are a ResNet-{depth}'s")


def detect_layout(sd: dict, is_detector: bool = False) -> str:
    """The key layout of an authors' RLA-ResNet-style state dict (one of
    ``VARIANT_LAYOUTS``' values); ``'main'`` is shared by v1-v6. A
    detector's backbone never has the head norm ``bn2``."""
    if 'stages.0.0.conv_out.weight' in sd:
        return 'unshared'
    if 'recurrent_convs.0.conv.weight' in sd:
        return 'convlstm'
    if 'recurrent_convs.0.gate_conv.weight' in sd:
        return 'convgru'
    if 'layer1.0.conv1.weight' in sd and 'conv_outs.0.weight' not in sd:
        return 'widened'
    conv1 = sd.get('stages.0.0.conv1.weight')
    if conv1 is not None and 'conv1.weight' in sd and \
            conv1.shape[1] == sd['conv1.weight'].shape[0]:
        return 'no_exchange'  # the first conv1 reads the stem output only
    return 'main' if is_detector or 'bn2.weight' in sd else 'postact'


def is_widened_resnet(sd: dict) -> bool:
    """The authors' ``resnet_k`` layout (torchvision's ResNet keys, stages
    wider than 64 * 2^i * 4): a state dict rla_mm converts."""
    w = sd.get('layer1.0.conv3.weight')
    return w is not None and w.shape[0] != 256 and all(
        re.match(r'(conv1|bn1|layer\d|fc)\.', k) for k in sd)


def resolve_variant(sd: dict, arch: Optional[str],
                    is_detector: bool) -> Tuple[str, Optional[str]]:
    """(variant, arch) for an authors' RLA-ResNet-style state dict.

    ``arch`` (``--arch``, or the file's own field) must name a variant of
    the detected key layout. Without it the layout decides; the main
    layout of a classifier is ambiguous (the authors' v1-v6 share it) and
    refused; a detector's is their MMDetection port of the main model.

    Raises:
        ValueError: ambiguous keys without ``arch``, an unknown ``arch``, or
            one whose layout is not the file's (both named).
    """
    layout = detect_layout(sd, is_detector)
    if arch is None:
        if layout == 'main' and not is_detector:
            raise ValueError(
                'the keys are those of the authors\' main RLA-ResNet, which '
                'their variants v1-v6 share: give --arch with their model '
                'function (rla_resnet50, rlav1_resnet50 .. rlav6_resnet50)')
        return next(v for v, lay in VARIANT_LAYOUTS.items()
                    if lay == layout), None
    variant, _ = parse_arch(arch)
    if VARIANT_LAYOUTS[variant] != layout:
        raise ValueError(f'--arch {arch} has the {VARIANT_LAYOUTS[variant]} '
                         f'key layout, but the file has the {layout} one')
    return variant, arch


def variant_rules(layout: str) -> List[Tuple[str, Callable]]:
    """Key rules (source pattern -> rla_mm key) that a layout adds to, or
    uses instead of, the main RLA-ResNet's (``_rules_resnet``)."""
    s1 = lambda m: int(m[1]) + 1  # noqa: E731  (stages.i -> layer{i+1})
    if layout == 'unshared':
        return [
            (r'stages\.(\d+)\.(\d+)\.conv_out\.weight',
             lambda m: f'layer{s1(m)}.rla.conv_outs.{m[2]}.weight'),
            (r'stages\.(\d+)\.(\d+)\.recurrent_conv\.weight',
             lambda m: f'layer{s1(m)}.rla.recurrent_convs.{m[2]}.weight'),
            (rf'stages\.(\d+)\.(\d+)\.bn_rla\.{_BN}',
             lambda m: f'layer{s1(m)}.rla.norms.{m[2]}.{m[3]}'),
        ]
    if layout == 'convlstm':
        return [(r'recurrent_convs\.(\d+)\.conv\.weight',
                 lambda m: f'layer{s1(m)}.rla.gate_conv.weight')]
    if layout == 'convgru':
        return [(r'recurrent_convs\.(\d+)\.((gate|output)_conv|'
                 r'(reset_gate|update_gate|output)_norm)\.(weight|bias)',
                 lambda m: f'layer{s1(m)}.rla.{m[2]}.{m[5]}')]
    if layout == 'widened':  # torchvision's names are mmdet's
        return [(rf'(conv1\.weight|bn1\.{_BN}|layer\d+\.\d+\.(conv[123]\.'
                 rf'weight|bn[123]\.{_BN}|downsample\.0\.weight|downsample\.1'
                 rf'\.{_BN}))', lambda m: m[1])]
    return []


def widened_backbone_cfg(sd: dict, depths: Dict[tuple, int]) -> dict:
    """WidenedResNet arguments of an authors' ``resnet_k`` state dict."""
    blocks: Dict[int, int] = {}
    for key in sd:
        m = re.match(r'layer(\d+)\.(\d+)\.', key)
        if m:
            blocks[int(m[1])] = max(blocks.get(int(m[1]), 0), int(m[2]) + 1)
    counts = tuple(blocks[i] for i in sorted(blocks))
    depth = depths.get((counts, True))
    if depth is None:
        raise KeyError(f'no ResNet has {counts} Bottlenecks per stage')
    extra = int(sd['layer1.0.conv3.weight'].shape[0]) - 256
    return dict(type='WidenedResNet', depth=depth, extra_channels=extra)
