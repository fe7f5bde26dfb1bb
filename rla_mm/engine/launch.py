"""What rla_mm's train/test tools add to mmdet's: the right distributed
backend without being told (with the config's ``env_cfg.dist_cfg`` honoured),
and readable errors for missing inputs.
"""
import datetime
import json
import os.path as osp
import sys
from typing import Callable, Iterator, List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

from .errors import UserInputError
from .fileio import ATOMIC_BACKEND


def dist_init_kwargs(dist_cfg: dict) -> dict:
    """``init_process_group`` keyword arguments from ``env_cfg.dist_cfg``,
    as mmengine's ``init_dist`` builds them: everything but ``backend`` and
    ``init_backend``, ``timeout`` (seconds) as a ``datetime.timedelta``.

    Args:
        dist_cfg: e.g. ``dict(backend='nccl', timeout=1800)``.

    Raises:
        ValueError: ``timeout`` is not a number of seconds, or
            ``init_backend`` is not 'torch' (the only one on CPU).
    """
    kwargs = {k: v for k, v in dist_cfg.items()
              if k not in ('backend', 'init_backend')}
    init_backend = dist_cfg.get('init_backend', 'torch')
    if init_backend != 'torch':
        raise ValueError(f'env_cfg.dist_cfg.init_backend={init_backend!r} '
                         "needs CUDA; on the CPU only 'torch' runs")
    timeout = kwargs.get('timeout')
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise ValueError('env_cfg.dist_cfg.timeout must be a number of '
                             f'seconds, got {timeout!r}')
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    return kwargs


def setup_distributed(cfg: Config) -> None:
    """Pick NCCL on CUDA and gloo on CPU for ``--launcher pytorch``.

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and wraps the
    model with ``device_ids=[LOCAL_RANK]``, both of which fail on a CPU-only
    machine. There we initialise a gloo process group ourselves, with the
    other keys of ``env_cfg.dist_cfg`` (``timeout`` in seconds, ...) passed
    on as mmengine would (mmengine then skips its own initialisation), and
    let DDP wrap a CPU module (``device_ids=None``). On CUDA machines the
    config's backend (NCCL in mmdet's runtime) is kept and mmengine
    initialises it.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo',
                                **dist_init_kwargs(dict(dist_cfg)))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def use_atomic_checkpoints(cfg: Config) -> None:
    """Make the CheckpointHook write complete files or none (see
    :mod:`.fileio`) and delete old checkpoints only after the new one is
    complete (:class:`~rla_mm.engine.hooks.AtomicCheckpointHook`)."""
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    if hook is None or '://' in str(hook.get('out_dir') or ''):
        return  # none, or a remote out_dir (its backend writes there)
    if not hook.get('backend_args'):
        hook['backend_args'] = dict(backend=ATOMIC_BACKEND)
    if hook.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        hook['type'] = 'AtomicCheckpointHook'


def batch_size_warning(cfg: Config, world_size: int,
                       auto_scale_lr: bool) -> Optional[str]:
    """A loud line when the total training batch is not the one the
    config's learning rate was set for (``auto_scale_lr.base_batch_size``,
    the paper's total batch) and the lr is not scaled; else None.

    Args:
        cfg: the training config.
        world_size: number of training processes.
        auto_scale_lr: whether ``--auto-scale-lr`` was given.
    """
    scale_cfg = cfg.get('auto_scale_lr') or {}
    base = scale_cfg.get('base_batch_size')
    per_process = (cfg.get('train_dataloader') or {}).get('batch_size')
    if base is None or per_process is None or auto_scale_lr or \
            scale_cfg.get('enable'):
        return None
    total = world_size * per_process
    if total == base:
        return None
    lr = ((cfg.get('optim_wrapper') or {}).get('optimizer') or {}).get('lr')
    return (f'!!! TOTAL BATCH {total} ({world_size} process(es) x '
            f'{per_process}) differs from auto_scale_lr.base_batch_size='
            f'{base}, the batch the config\'s lr={lr} is meant for: results '
            'will differ from the published ones. Pass --auto-scale-lr to '
            f'scale the lr by {total}/{base}, or train with a total batch of '
            f'{base} !!!')


def check_inputs(cfg: Config, phase: str = 'train') -> None:
    """Fail early, with the path and a remedy, on missing data or weights.

    Raises:
        FileNotFoundError: naming the first missing dataset annotation file,
            image directory or pretrained checkpoint of the config.
    """
    loaders = ['train_dataloader', 'val_dataloader'] if phase == 'train' \
        else ['test_dataloader']
    for name in loaders:
        loader = cfg.get(name)
        if not loader:
            continue
        _check_dataset(loader.get('dataset', {}), name)
    for key, ckpt in _pretrained_paths(cfg.get('model', {})):
        if not osp.isfile(ckpt):
            raise FileNotFoundError(
                f'pretrained weights not found: {ckpt} (from {key}). '
                f'Convert the authors\' ImageNet checkpoint with '
                f'{_converter_commands(ckpt)} (see docs/rla_checkpoints.md), '
                f'point the config at your file with --cfg-options {key}=PATH,'
                ' or train from scratch with --cfg-options '
                f'{key.rsplit(".", 1)[0]}=None')


def _converter_commands(dst: str) -> str:
    from ..converters import FAMILIES
    return ' or '.join(f'`{f.command.replace("DST", dst)}` ({f.name})'
                       for f in FAMILIES.values())


def _dataset_cfgs(dataset: dict) -> Iterator[dict]:
    """The leaf dataset configs inside wrappers (Repeat, Concat, ...)."""
    if 'dataset' in dataset:
        yield from _dataset_cfgs(dataset['dataset'])
        return
    for sub in dataset.get('datasets', []):
        yield from _dataset_cfgs(sub)
    yield dataset


def annotation_files(cfg: Config) -> List[str]:
    """Every local annotation file the config reads (datasets of all three
    loaders, evaluators' ``ann_file``), in that order, without repeats."""
    paths = []
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for ds in _dataset_cfgs((cfg.get(name) or {}).get('dataset') or {}):
            ann = ds.get('ann_file')
            if isinstance(ann, str) and ann:
                root = ds.get('data_root') or ''
                paths.append(ann if osp.isabs(ann) else osp.join(root, ann))
    for name in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(name) or []
        for ev in evaluators if isinstance(evaluators, list) else [
                evaluators]:
            if isinstance(ev, dict) and isinstance(ev.get('ann_file'), str):
                paths.append(ev['ann_file'])
    return [p for i, p in enumerate(paths)
            if '://' not in p and p not in paths[:i]]


def invalid_json(paths: List[str]) -> Optional[str]:
    """One line naming the first ``.json`` file of ``paths`` that does not
    parse (where and why), or None."""
    for path in paths:
        if not (path.endswith('.json') and osp.isfile(path)):
            continue
        try:
            with open(path, 'rb') as f:
                json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return (f'annotation file {path} is not valid JSON ({e}); '
                    're-download or regenerate it')
    return None


def _check_dataset(dataset: dict, where: str) -> None:
    for leaf in _dataset_cfgs(dataset):
        _check_leaf_dataset(leaf, where)


def _check_leaf_dataset(dataset: dict, where: str) -> None:
    root = dataset.get('data_root') or ''
    hint = ('Download the dataset and link it there (see README, "Data"), '
            'or run `python tools/misc/make_demo_data.py` and use a config '
            'under configs/demo/.')
    ann = dataset.get('ann_file')
    if ann:
        path = ann if osp.isabs(ann) else osp.join(root, ann)
        if not osp.exists(path):
            raise FileNotFoundError(
                f'{where}: annotation file not found: {path}. {hint}')
    elif root and not osp.isdir(root):
        raise FileNotFoundError(
            f'{where}: dataset root not found: {root}. {hint}')
    prefix = dataset.get('data_prefix') or {}
    for img_dir in prefix.values() if isinstance(prefix, dict) else []:
        if not isinstance(img_dir, str) or '://' in img_dir:
            continue
        path = img_dir if osp.isabs(img_dir) else osp.join(root, img_dir)
        if img_dir and not osp.isdir(path):
            raise FileNotFoundError(
                f'{where}: image directory not found: {path}. {hint}')


def _pretrained_paths(node, key='model'):
    """Yield (config key of the checkpoint, path) for local Pretrained inits."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            ckpt = init.get('checkpoint')
            if isinstance(ckpt, str) and '://' not in ckpt:
                yield f'{key}.init_cfg.checkpoint', ckpt
        for k, v in node.items():
            if k != 'init_cfg':
                yield from _pretrained_paths(v, f'{key}.{k}')


def run_cli(build_cfg: Callable[[], Config],
            run: Callable[[Config], None]) -> None:
    """Run a tool's ``run(build_cfg())``; bad input ends the process with
    one ``error: ...`` line on stderr and exit status 1, not a traceback.

    Bad input is :class:`UserInputError`, ``FileNotFoundError``, and a
    ``ValueError``/``TypeError`` raised while some annotation file of the
    config is not valid JSON (mmdet's datasets raise a ``JSONDecodeError``
    without the file's name; that file is named). Anything else propagates.
    """
    cfg = None
    try:
        cfg = build_cfg()
        run(cfg)
    except (UserInputError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
    except (ValueError, TypeError):
        line = invalid_json(annotation_files(cfg)) if cfg is not None \
            else None
        if line is None:
            raise
        sys.exit(f'error: {line}')
