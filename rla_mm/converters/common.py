"""What every checkpoint converter of rla_mm shares: the safe load, the
format dispatch, the key/shape checks against the target model, and the
atomic save. The families of foreign checkpoints (the RLA-Net authors'
files, the MRLA authors' files, ...) plug in through :func:`register_family`;
see the package docstring of :mod:`rla_mm.converters` for the contract.
"""
import importlib
import inspect
import io
import os
import os.path as osp
import re
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

from ..engine.fileio import atomic_write_bytes

StateDict = Dict[str, torch.Tensor]


# ----------------------------------------------------------------- reading
def load_weights_only(path: str) -> Tuple[StateDict, dict]:
    """Read a checkpoint safely; return (state dict without ``module.``,
    the whole file).

    Args:
        path: a ``.pth``/``.pth.tar`` file: a dict with a ``state_dict`` of
            tensors, or a bare state dict.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a checkpoint (does not load with
            ``weights_only=True``, is not a dict, has no tensor state dict).
        KeyError: some keys have the ``module.`` prefix and others not.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated file, not a zip/pickle, unsafe object
        raise ValueError(
            f'{path} is not a checkpoint that loads with '
            f'torch.load(weights_only=True): {type(e).__name__}: '
            f'{_first_line(e)}') from e
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path} holds a {type(ckpt).__name__}, not a '
                         'checkpoint dict')
    state_dict = ckpt.get('state_dict', ckpt)
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f'{path} has no state_dict')
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{path}: state_dict entry {key!r} is a '
                             f'{type(value).__name__}, not a tensor')
    return strip_module_prefix(state_dict, path), ckpt


def strip_module_prefix(state_dict: dict, path: str = 'the file') -> dict:
    """Drop DataParallel's ``module.`` prefix (all keys or none have it)."""
    prefixed = [k.startswith('module.') for k in state_dict]
    if not any(prefixed):
        return state_dict
    if not all(prefixed):
        bare = next(k for k, p in zip(state_dict, prefixed) if not p)
        raise KeyError(f'{path}: key {bare!r} lacks the `module.` prefix '
                       'that the other keys have')
    return {k[len('module.'):]: v for k, v in state_dict.items()}


def split_detector(state_dict: dict) -> Tuple[dict, dict]:
    """(backbone keys without ``backbone.``, the other keys) of a detector
    state dict; ``({}, state_dict)`` for a classifier."""
    backbone = {k[len('backbone.'):]: v for k, v in state_dict.items()
                if k.startswith('backbone.')}
    rest = {k: v for k, v in state_dict.items()
            if not k.startswith('backbone.')}
    return backbone, rest


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


# ------------------------------------------------------ families (plug-in)
@dataclass(frozen=True)
class CheckpointFamily:
    """A family of foreign checkpoints that rla_mm converts.

    Args:
        name: short name (``'rlanet'``, ``'mrla'``).
        description: what the files are, for messages.
        detect: ``detect(state_dict) -> bool`` on the state dict as
            :func:`load_weights_only` returns it (no ``module.`` prefix;
            detector files keep ``backbone.``). Must be False for rla_mm's
            own (converted) checkpoints.
        convert: ``convert(src, dst=None, force=False, **options) -> dict``,
            the converted checkpoint (written atomically when ``dst``).
        command: the CLI that converts one file, with SRC/DST placeholders.
    """
    name: str
    description: str
    detect: Callable[[dict], bool]
    convert: Callable[..., dict]
    command: str


FAMILIES: Dict[str, CheckpointFamily] = {}


def register_family(family: CheckpointFamily) -> CheckpointFamily:
    """Add a family to the dispatch (a module calls this at import)."""
    FAMILIES[family.name] = family
    return family


def detect_family(state_dict: dict) -> Optional[CheckpointFamily]:
    """The registered family whose ``detect`` accepts ``state_dict``."""
    for family in FAMILIES.values():
        if family.detect(state_dict):
            return family
    return None


def convert_checkpoint(src: str,
                       dst: Optional[str] = None,
                       family: str = 'auto',
                       force: bool = False,
                       **options) -> dict:
    """Convert SRC with the family that ``family`` names or that its keys
    reveal, and write DST atomically (see each family's ``convert``).

    Raises:
        ValueError: unknown ``family``, or SRC matches no registered family
            (the message lists them).
    """
    check_destination(src, dst, force)
    if family != 'auto':
        if family not in FAMILIES:
            raise ValueError(f'`family` must be one of '
                             f"{('auto', *FAMILIES)}, got {family!r}")
        return _convert_with(FAMILIES[family], src, dst, force, options)
    state_dict, _ = load_weights_only(src)
    found = detect_family(state_dict)
    if found is None:
        known = '; '.join(f'{f.name}: {f.description}'
                          for f in FAMILIES.values())
        raise ValueError(f'{src} is not a checkpoint of a family rla_mm '
                         f'converts ({known})')
    return _convert_with(found, src, dst, force, options)


def _convert_with(family, src, dst, force, options: dict) -> dict:
    """``family.convert``; a named error for an option it does not take."""
    unknown = set(options) - set(inspect.signature(family.convert).parameters)
    if unknown:
        raise ValueError(f'`{sorted(unknown)[0]}` does not apply to '
                         f'{family.name} checkpoints ({family.description})')
    return family.convert(src, dst, force=force, **options)


# ------------------------------------------------------------ the target
def build_target(cfg: dict, scope: str = 'mmpretrain') -> torch.nn.Module:
    """Build the rla_mm model a checkpoint is meant for, on the meta device
    (no memory, no init): only names and shapes are needed.

    Args:
        cfg: model config (e.g. ``dict(type='ImageClassifier', ...)``).
        scope: registry scope to build in (mmengine's Runner may have set
            another one, e.g. 'mmdet').
    """
    from mmengine.registry import DefaultScope

    import rla_mm  # noqa: F401  (registers the backbones)
    models = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        return models.build(cfg)


def check_and_fill(target_sd: dict,
                   mapped: Dict[str, Tuple[str, torch.Tensor]],
                   droppable: Optional[re.Pattern] = None,
                   prefix: str = '') -> Tuple[dict, List[str]]:
    """Match converted tensors to the target's keys and shapes exactly.

    Args:
        target_sd: state dict (meta tensors) of the target model.
        mapped: target key -> (source key, tensor).
        droppable: target keys (without ``prefix``) the target may lack;
            their tensors are dropped and reported.
        prefix: prefix of the target keys that ``droppable`` ignores.

    Returns:
        (state dict, dropped source keys).

    Raises:
        KeyError: a mapped key the target lacks, or a target key that no
            source key provides (both named).
        ValueError: a shape differs (source key, target key, both shapes).
    """
    out, dropped = {}, []
    for key, (src_key, tensor) in mapped.items():
        if key not in target_sd:
            if droppable is not None and droppable.fullmatch(
                    key[len(prefix):]):
                dropped.append(src_key)
                continue
            raise KeyError(f'source key {src_key!r} maps to {key!r}, which '
                           'the rla_mm model does not have')
        want = tuple(target_sd[key].shape)
        if tuple(tensor.shape) != want:
            raise ValueError(f'shape of {src_key!r} is {tuple(tensor.shape)}'
                             f', but {key!r} needs {want}')
        out[key] = tensor
    missing = [k for k in target_sd if k not in out]
    if missing:
        raise KeyError(f'missing key: the rla_mm model needs {missing[0]!r}'
                       f' ({len(missing)} missing in all), which no source '
                       'key provides')
    return out, dropped


def verify_against_config(state_dict: dict, config: str) -> None:
    """Check every key and shape against ``model`` of an rla_mm config.

    Raises:
        KeyError: a key the model lacks, or one it needs and is not given.
        ValueError: a shape differs (key and both shapes named).
    """
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    # names and shapes only: meta tensors, and init_cfg never runs
    model = build_target(cfg.model, cfg.get('default_scope', 'mmdet'))
    target_sd = model.state_dict()
    for key, value in state_dict.items():
        if key not in target_sd:
            raise KeyError(f'{key!r} is not in the model of {config}')
        if tuple(value.shape) != tuple(target_sd[key].shape):
            raise ValueError(f'shape of {key!r} is {tuple(value.shape)}, but '
                             f'the model of {config} needs '
                             f'{tuple(target_sd[key].shape)}')
    missing = [k for k in target_sd if k not in state_dict]
    if missing:
        raise KeyError(f'the model of {config} needs {missing[0]!r} '
                       f'({len(missing)} missing in all)')


# ------------------------------------------------------------- writing
def check_destination(src: str, dst: Optional[str],
                      force: bool = False) -> None:
    """Refuse a DST that would destroy SRC or cannot be written, before any
    work is done; create DST's missing parent directories.

    Raises:
        ValueError: DST is SRC (same path, or the same file through a link)
            and ``force`` is False.
        IsADirectoryError: DST is a directory.
        NotADirectoryError: a component of DST's parent is a file.
        PermissionError: DST's directory is not writable.
    """
    if dst is None:
        return
    if osp.isdir(dst):
        raise IsADirectoryError(
            f'DST {dst} is a directory: give the output file name, e.g. '
            f'{osp.join(dst, osp.basename(src).split(".")[0] + ".pth")}')
    if osp.exists(dst) and osp.exists(src) and osp.samefile(src, dst) \
            and not force:
        raise ValueError(
            f'DST {dst} is SRC {src}: converting in place would replace the '
            'original (its optimizer, epoch and accuracy fields are not '
            'kept); give another DST, or pass --force to overwrite it')
    parent = osp.dirname(osp.abspath(dst))
    probe = parent
    while not osp.exists(probe):
        probe = osp.dirname(probe)
    if not osp.isdir(probe):
        raise NotADirectoryError(f'cannot create the directory of DST {dst}:'
                                 f' {probe} is a file')
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f'cannot write DST {dst}: directory {probe} is'
                              ' not writable; choose a DST in a writable '
                              'directory')
    os.makedirs(parent, exist_ok=True)


def classifier_target(backbone: dict, fc_weight: torch.Tensor,
                      weight_key: str) -> Tuple[torch.nn.Module, dict]:
    """The mmpretrain classifier an ImageNet file's weights are meant for
    (``backbone`` + global average pooling + linear head), on the meta
    device, and its head config.

    Args:
        backbone: the backbone config.
        fc_weight: the source's classifier weight, (classes, channels).
        weight_key: its source key, for messages.

    Raises:
        ValueError: the classifier's input is not the backbone's output width
            (key and shapes named).
    """
    head = dict(type='LinearClsHead', num_classes=int(fc_weight.shape[0]),
                in_channels=int(fc_weight.shape[1]))
    model = build_target(
        dict(type='ImageClassifier', backbone=backbone,
             neck=dict(type='GlobalAveragePooling'), head=head))
    feat = getattr(model.backbone, 'feat_dim', None) or getattr(
        model.backbone, 'out_channel')
    if head['in_channels'] != feat:
        raise ValueError(
            f'shape of {weight_key!r} is {tuple(fc_weight.shape)}: its input '
            f'must be the {feat} channels of the backbone')
    return model, head


def finish_conversion(state_dict: dict,
                      meta: dict,
                      config: Optional[str] = None,
                      dst: Optional[str] = None) -> dict:
    """The last steps of every converter: check the result against
    ``config``'s model (if given), write it to DST atomically (if given) and
    return it as ``dict(state_dict=..., meta=...)``."""
    if config is not None:
        verify_against_config(state_dict, config)
    out = dict(state_dict=state_dict, meta=meta)
    if dst is not None:
        save_checkpoint(out, dst)
    return out


def source_meta(ckpt: dict) -> dict:
    """What a converted checkpoint's ``meta`` keeps of the source file, as
    plain Python values (the output stays ``weights_only``-loadable): an
    ImageNet training script's ``arch``, ``epoch`` and ``best_acc1`` (a
    tensor in the authors' files), an MMDetection 2.x file's class names as
    ``dataset_meta``.

    Example:
        >>> source_meta(dict(epoch=100, best_acc1=torch.tensor(77.5)))
        {'epoch': 100, 'best_acc1': 77.5}
    """
    meta = {}
    if 'arch' in ckpt:
        meta['arch'] = str(ckpt['arch'])
    if 'epoch' in ckpt:
        meta['epoch'] = int(ckpt['epoch'])
    if 'best_acc1' in ckpt:
        meta['best_acc1'] = float(ckpt['best_acc1'])
    src_meta = ckpt.get('meta')
    classes = src_meta.get('CLASSES') if isinstance(src_meta, dict) else None
    if classes:
        meta['dataset_meta'] = dict(classes=list(classes))
    return meta


def save_checkpoint(checkpoint: dict, dst: str) -> None:
    """``torch.save`` into memory, then one atomic write of DST."""
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    atomic_write_bytes(buf.getvalue(), dst)


#: The errors a converter CLI reports in one line (anything else is a bug
#: and keeps its traceback).
USER_ERRORS = (FileNotFoundError, KeyError, ValueError, OSError)


def error_line(e: BaseException) -> str:
    """``e`` as one line (KeyError's message without its quotes)."""
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    if isinstance(e, OSError) and e.filename and str(e.filename) not in str(
            msg):
        msg = f'{e.filename}: {msg}'
    return ' '.join(str(msg).split())


def run_converter_cli(convert: Callable[..., dict], src: str, dst: str,
                      **options) -> int:
    """Run ``convert(src, dst, **options)`` for a CLI: print a summary and
    return 0, or print one ``error: ...`` line on stderr and return 1."""
    try:
        ckpt = convert(src, dst, **options)
    except USER_ERRORS as e:
        print(f'error: {error_line(e)}', file=sys.stderr)
        return 1
    meta = ckpt.get('meta', {})
    print(f'converted {src} ({meta.get("source_format", "?")}, '
          f'{len(ckpt["state_dict"])} tensors) -> {dst}')
    for key in ('backbone', 'head'):
        if key in meta:
            print(f'{key}: {meta[key]}')
    if meta.get('dropped_keys'):
        print('dropped (not built in detection mode): '
              f'{", ".join(meta["dropped_keys"])}')
    return 0
