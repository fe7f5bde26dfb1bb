"""A tiny CIFAR-10 / CIFAR-100 stand-in in the real on-disk format, for
running the CIFAR configs (RecNet, CSR-Conv, RC) in mmengine's Runner without
the data sets.

The files are pickled dicts of uint8 rows, as the python version of CIFAR
ships them; the registered dataset is mmpretrain's own ``CIFAR10`` /
``CIFAR100`` class with only the file lists and md5 sums swapped for these
files, so its integrity check and loading code run unchanged. Each image has
a class-dependent bright patch, so a few iterations can lower the loss.

Example:
    >>> root, dataset_type = make_cifar_stand_in('data/stand_in', 'cifar10')
    >>> cfg = stand_in_run_cfg(Config.fromfile(
    ...     'configs/rc/rcnet_r2-2_1xb128_cifar10.py'), root, dataset_type,
    ...     'work_dirs/stand_in')
    >>> Runner.from_cfg(cfg).train()  # 2 iterations of batch 4
"""
import hashlib
import os
import os.path as osp
import pickle
from typing import Tuple

import numpy as np
from mmengine.config import Config
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

STAND_IN_DATASETS = ('cifar10', 'cifar100')


def make_cifar_stand_in(root: str,
                        dataset: str = 'cifar10',
                        num_train: int = 8,
                        num_test: int = 4) -> Tuple[str, str]:
    """Write the stand-in under ``root`` and register its dataset type.

    Args:
        root: The ``data_root`` of the dataset (created if needed).
        dataset: ``'cifar10'`` or ``'cifar100'``.
        num_train, num_test: Images in the training and test files.

    Returns:
        ``(root, dataset_type)``: the registered type is
        ``StandInCIFAR10`` or ``StandInCIFAR100``.
    """
    if dataset not in STAND_IN_DATASETS:
        raise ValueError(f'`dataset` must be one of {STAND_IN_DATASETS}, got '
                         f'{dataset!r}')
    base = CIFAR10 if dataset == 'cifar10' else CIFAR100
    num_classes = 10 if dataset == 'cifar10' else 100
    rng = np.random.default_rng(0)
    folder = osp.join(str(root), base.base_folder)
    os.makedirs(folder, exist_ok=True)
    train_name, test_name = base.train_list[0][0], base.test_list[0][0]
    label_key = 'labels' if dataset == 'cifar10' else 'fine_labels'
    md5 = {}
    for name, num in ((train_name, num_train), (test_name, num_test),
                      (base.meta['filename'], None)):
        if num is None:
            entry = {base.meta['key']: [f'c{i}' for i in range(num_classes)]}
        else:
            labels = [int(v) for v in rng.integers(0, num_classes, num)]
            data = rng.integers(0, 60, (num, 3, 32, 32), dtype=np.uint8)
            for i, c in enumerate(labels):  # a class-dependent bright patch
                data[i, c % 3, 2 * (c % 14):2 * (c % 14) + 6] = 230
            entry = {'data': data.reshape(num, -1), label_key: labels}
        path = osp.join(folder, name)
        with open(path, 'wb') as f:
            pickle.dump(entry, f)
        with open(path, 'rb') as f:
            md5[name] = hashlib.md5(f.read()).hexdigest()

    stand_in = type(f'StandIn{base.__name__}', (base, ), dict(
        train_list=[[train_name, md5[train_name]]],
        test_list=[[test_name, md5[test_name]]],
        meta=dict(base.meta, md5=md5[base.meta['filename']])))
    DATASETS.register_module(name=stand_in.__name__, module=stand_in,
                             force=True)
    return str(root), stand_in.__name__


def stand_in_run_cfg(cfg: Config, data_root: str, dataset_type: str,
                     work_dir: str) -> Config:
    """``cfg`` trained for one epoch on the stand-in (batch 4, no workers,
    logging every iteration, seed 0, no launcher), in place."""
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=4, num_workers=0, persistent_workers=False)
        loader.dataset.update(type=dataset_type, data_root=data_root,
                              download=False)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    cfg.launcher = 'none'
    return cfg
