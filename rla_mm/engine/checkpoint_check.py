"""Does a checkpoint fit a model? Asked before mmengine loads it, because
mmengine loads whatever matches with ``strict=False`` and only warns:

- ``tools/test.py CONFIG CKPT`` with a checkpoint of another architecture
  would evaluate a mostly random model and report mAP 0.0 with exit 0;
- ``init_cfg=dict(type='Pretrained', checkpoint=...)`` pointing at an
  unconverted file (the authors' ``.pth.tar``), a torchvision ResNet or a
  converted file with the wrong ``prefix`` would train from a mostly random
  backbone.

Both are refused with one line (:class:`~.errors.UserInputError`) that names
the file, what does not fit and what to do; ``allow_partial=True`` (the
tools' ``--allow-partial-load``) lets mmengine's partial load go ahead.

Example:
    >>> fit = compare_state_dicts({'w': (2, 3)}, {'w': torch.zeros(3, 2)})
    >>> fit.summary()
    "1 mis-shaped ('w': (3, 2) in the file, (2, 3) in the model)"
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from torch import nn

from .errors import UserInputError

#: Below this fraction of a module's tensors, a Pretrained init is refused
#: (also above it if a tensor is mis-shaped). Missing tensors alone are
#: normal for extra layers (DCN offsets, plugins), as in mmdet.
MIN_PRETRAINED_FRACTION = 0.5
PARTIAL_FLAG = '--allow-partial-load'


@dataclass
class Fit:
    """How a state dict fits a model (keys relative to the same root)."""
    total: int
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    misshaped: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped)

    @property
    def fraction(self) -> float:
        return len(self.loaded) / max(self.total, 1)

    def summary(self, examples: int = 2) -> str:
        """``'3 missing (e.g. ...), 1 unexpected (...), 2 mis-shaped (...)'``
        in one line."""
        parts = []
        for what, keys in (('missing', self.missing),
                           ('unexpected', self.unexpected)):
            if keys:
                shown = ', '.join(repr(k) for k in keys[:examples])
                more = ', ...' if len(keys) > examples else ''
                parts.append(f'{len(keys)} {what} ({"e.g. " if more else ""}'
                             f'{shown}{more})')
        if self.misshaped:
            shown = ', '.join(f'{k!r}: {tuple(a)} in the file, {tuple(b)} in '
                              'the model'
                              for k, a, b in self.misshaped[:examples])
            more = ', ...' if len(self.misshaped) > examples else ''
            parts.append(f'{len(self.misshaped)} mis-shaped '
                         f'({"e.g. " if more else ""}{shown}{more})')
        return ', '.join(parts) or 'every key and shape matches'


def compare_state_dicts(model_shapes: Dict[str, tuple],
                        state_dict: dict) -> Fit:
    """Match a state dict against a model's ``{key: shape}``.

    Args:
        model_shapes: e.g. ``{k: tuple(v.shape) for k, v in
            model.state_dict().items()}``.
        state_dict: the checkpoint's tensors (same key root as the model).
    """
    fit = Fit(total=len(model_shapes))
    for key, shape in model_shapes.items():
        if key not in state_dict:
            fit.missing.append(key)
        elif tuple(state_dict[key].shape) != tuple(shape):
            fit.misshaped.append(
                (key, tuple(state_dict[key].shape), tuple(shape)))
        else:
            fit.loaded.append(key)
    fit.unexpected = [k for k in state_dict if k not in model_shapes]
    return fit


def shapes_of(module: nn.Module) -> Dict[str, tuple]:
    """``{key: shape}`` of a module's state dict (a model wrapper's
    ``module.`` removed)."""
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(module):
        module = module.module
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def load_state_dict_file(path: str, what: str = 'checkpoint') -> dict:
    """The whole checkpoint at ``path``, read with ``weights_only=True``
    (memory-mapped where the format allows).

    Raises:
        UserInputError: missing file, or one that is not a weights-only
            loadable checkpoint dict (truncated, foreign pickle, ...).
    """
    if not osp.isfile(path):
        raise UserInputError(f'{what} not found: {path}')
    try:
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=True,
                              mmap=True)
        except RuntimeError as e:  # legacy (non-zip) format cannot be mapped
            if 'mmap' not in str(e):
                raise
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated, not a checkpoint, unsafe pickle
        msg = (str(e).strip().splitlines() or [''])[0]
        raise UserInputError(
            f'{what} {path} is not a complete checkpoint (torch.load with '
            f'weights_only=True fails: {type(e).__name__}: {msg}); give '
            'another file') from None
    if not isinstance(ckpt, dict):
        raise UserInputError(f'{what} {path} holds a {type(ckpt).__name__}, '
                             'not a checkpoint dict')
    return ckpt


def model_state_dict(ckpt: dict) -> dict:
    """The model tensors of a checkpoint as mmengine's ``load_checkpoint``
    reads them: ``state_dict`` (or the file itself), ``module.`` removed."""
    state_dict = ckpt.get('state_dict', ckpt)
    return {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()
            if isinstance(v, torch.Tensor)}


def check_checkpoint_fits(model: nn.Module,
                          path: str,
                          allow_partial: bool = False,
                          what: str = 'checkpoint',
                          ckpt: Optional[dict] = None,
                          config: Optional[str] = None) -> Fit:
    """Refuse a checkpoint whose tensors do not match the model exactly.

    Args:
        model: the built model (a wrapper is unwrapped).
        path: the checkpoint file.
        allow_partial: report nothing, let mmengine load what matches.
        what: how messages name the file (``'checkpoint'``, ``'--resume'``).
        ckpt: the loaded file, if the caller has it already.
        config: the config file the model comes from (for the message).

    Raises:
        UserInputError: one line with the counts and examples of missing,
            unexpected and mis-shaped keys, and the flag that allows it.
    """
    ckpt = load_state_dict_file(path, what) if ckpt is None else ckpt
    fit = compare_state_dicts(shapes_of(model), model_state_dict(ckpt))
    if not fit.exact and not allow_partial:
        raise UserInputError(
            f'{what} {path} does not fit the model'
            f'{f" of {config}" if config else ""} ({len(fit.loaded)} of '
            f'{fit.total} tensors match: {fit.summary()}); is it a checkpoint'
            f' of this config? Pass {PARTIAL_FLAG} to load only the matching '
            'tensors')
    return fit


# ------------------------------------------------------ init_cfg Pretrained
def pretrained_inits(model: nn.Module) -> Iterator[Tuple[str, nn.Module,
                                                         dict]]:
    """(config path of the module, module, its Pretrained init_cfg)."""
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    for name, module in model.named_modules():
        inits = getattr(module, 'init_cfg', None)
        for init in inits if isinstance(inits, list) else [inits]:
            if isinstance(init, dict) and init.get('type') == 'Pretrained' \
                    and isinstance(init.get('checkpoint'), str):
                yield ('model.' + name) if name else 'model', module, init


def _select_prefix(state_dict: dict, prefix: Optional[str]) -> dict:
    """What mmengine's ``PretrainedInit`` hands to the module."""
    if prefix is None:
        return model_state_dict(state_dict)
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    state_dict = state_dict.get('state_dict', state_dict)
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix) and isinstance(v, torch.Tensor)}


def best_prefix(model_shapes: Dict[str, tuple],
                state_dict: dict) -> Tuple[Optional[str], int]:
    """The key prefix (``'backbone.'``) under which most of the module's
    tensors are in the file, and how many (``None``: no prefix)."""
    counts: Dict[str, int] = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            continue
        parts = key.split('.')
        for i in range(len(parts)):
            rest = '.'.join(parts[i:])
            if model_shapes.get(rest) == tuple(value.shape):
                prefix = ''.join(p + '.' for p in parts[:i])
                counts[prefix] = counts.get(prefix, 0) + 1
    if not counts:
        return None, 0
    prefix = max(counts, key=counts.get)
    return (prefix or None), counts[prefix]


def _load_pretrained(path: str, where: str) -> Optional[dict]:
    if '://' not in path:
        return load_state_dict_file(path, f'{where}.checkpoint')
    from mmengine.runner.checkpoint import CheckpointLoader
    try:  # mmengine downloads it into its cache; init_weights reuses it
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    except Exception:  # offline: mmengine's own load will report it
        return None
    return ckpt if isinstance(ckpt, dict) else None


def check_pretrained(model: nn.Module,
                     allow_partial: bool = False,
                     min_fraction: float = MIN_PRETRAINED_FRACTION) -> None:
    """Refuse ``init_cfg=dict(type='Pretrained')`` files that are not made
    for their module.

    Every module of the model (rla_mm's or not) with a Pretrained init_cfg
    is checked the way mmengine will load it (``prefix`` applied, or
    ``module.`` stripped). If any tensor has another shape in the file, or
    fewer than ``min_fraction`` of the module's tensors would load, the
    message names the file and the likely cause: an
    unconverted file of a family :mod:`rla_mm.converters` knows (with its
    converter command), a wrong ``prefix`` (with the right one), or a file
    of another architecture.

    Raises:
        UserInputError: unless ``allow_partial``.
    """
    for where, module, init in pretrained_inits(model):
        path, prefix = init['checkpoint'], init.get('prefix')
        ckpt = _load_pretrained(path, where)
        if ckpt is None:
            continue
        shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        fit = compare_state_dicts(shapes, _select_prefix(ckpt, prefix))
        if allow_partial or (fit.fraction >= min_fraction
                             and not fit.misshaped):
            continue
        raise UserInputError(
            _pretrained_message(where, module, path, prefix, ckpt, shapes,
                                fit))


def _pretrained_message(where, module, path, prefix, ckpt, shapes, fit):
    from ..converters import detect_family
    head = (f'{where}.init_cfg.checkpoint={path} would load only '
            f'{len(fit.loaded)} of the {fit.total} tensors of '
            f'{type(module).__name__} (prefix={prefix!r})')
    family = detect_family(model_state_dict(ckpt))
    if family is not None:
        return (f'{head}: it is {family.description}, not converted. Convert '
                f'it: `{family.command.replace("SRC", path)}` and set '
                f'{where}.init_cfg.checkpoint=DST')
    better, count = best_prefix(shapes, ckpt.get('state_dict', ckpt))
    given = prefix if not prefix or prefix.endswith('.') else prefix + '.'
    if better != (given or None) and count > len(fit.loaded) and \
            count >= MIN_PRETRAINED_FRACTION * fit.total:
        return (f'{head}: with prefix={better!r} {count} would load; set '
                f'{where}.init_cfg.prefix={better!r}' if better else
                f'{head}: without a prefix {count} would load; set '
                f'{where}.init_cfg.prefix=None')
    return (f'{head} ({fit.summary()}): it is not a checkpoint of this '
            'architecture (e.g. a plain ResNet for an RLA backbone). Give a '
            'converted file (docs/rla_checkpoints.md), train from scratch '
            f'with --cfg-options {where}.init_cfg=None, or pass '
            f'{PARTIAL_FLAG} to load the matching tensors anyway')
