"""What rla_mm's train/test tools add to mmdet's: the right distributed
backend without being told, readable errors for missing inputs, and a resume
that survives an interrupted save.
"""
import glob
import os
import os.path as osp
import re
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

from .atomic_io import ATOMIC_BACKEND, atomic_write_bytes


def setup_distributed(cfg: Config) -> None:
    """Pick NCCL on CUDA and gloo on CPU for ``--launcher pytorch``.

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and wraps the
    model with ``device_ids=[LOCAL_RANK]``, both of which fail on a CPU-only
    machine. There we initialise a gloo process group ourselves (mmengine then
    skips its own initialisation) and let DDP wrap a CPU module
    (``device_ids=None``). On CUDA machines the config's backend (NCCL in
    mmdet's runtime) is kept.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def use_atomic_checkpoints(cfg: Config) -> None:
    """Make the CheckpointHook write complete files or none (see atomic_io)."""
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    if hook is not None and not hook.get('backend_args'):
        hook['backend_args'] = dict(backend=ATOMIC_BACKEND)


_CKPT_RE = re.compile(r'(epoch|iter)_(\d+)\.pth$')


def _loadable(path: str) -> bool:
    try:
        torch.load(path, map_location='cpu', weights_only=True, mmap=True)
        return True
    except Exception:
        return False


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint in ``work_dir`` that loads, or None.

    Prefers what ``last_checkpoint`` names (mmengine's own pointer); if that
    file is missing, empty or names an unreadable checkpoint (a run killed
    mid-save by a tool that did not write atomically), falls back to the
    newest ``epoch_*.pth``/``iter_*.pth`` that loads, and repairs the pointer.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named) and _loadable(named):
            return named
    candidates = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = _CKPT_RE.search(osp.basename(path))
        if m:
            candidates.append((m.group(1) == 'iter', int(m.group(2)), path))
    for *_, path in sorted(candidates, reverse=True):
        if _loadable(path):
            atomic_write_bytes(path.encode(), pointer)
            return path
    return None


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
                'Convert the authors\' ImageNet checkpoint with '
                f'`python tools/model_converters/rlanet2rla_mm.py SRC {ckpt}` '
                '(see docs/rla_checkpoints.md), point the config at your file '
                f'with --cfg-options {key}=PATH, or train from scratch with '
                f'--cfg-options {key.rsplit(".", 1)[0]}=None')


def _check_dataset(dataset: dict, where: str) -> None:
    # Wrappers (RepeatDataset, ConcatDataset, ...) hold the real datasets.
    if 'dataset' in dataset:
        return _check_dataset(dataset['dataset'], where)
    for sub in dataset.get('datasets', []):
        _check_dataset(sub, where)
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
