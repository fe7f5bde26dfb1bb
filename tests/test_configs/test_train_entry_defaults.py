"""Every config runs under the OpenMMLab training entry points as they are.

mmpretrain's own ``tools/train.py`` (1.x, ``merge_args``) fills the
dataloader defaults ``pin_memory=True, persistent_workers=True,
collate_fn=default_collate`` into every dataloader that does not set them,
and torch's ``DataLoader`` refuses ``persistent_workers=True`` with
``num_workers=0``: a config with ``num_workers=0`` must say
``persistent_workers=False`` itself. mmpretrain's tools/ are not in its pip
package, so the merge is reproduced here line for line and the result is run
with mmengine's ``Runner.from_cfg``, as that script does.
"""
import glob
import importlib.util
import os.path as osp
from copy import deepcopy

import pytest
from mmengine.config import Config, ConfigDict

from conftest import REPO_ROOT

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                       recursive=True)
    if '_base_' not in p and not osp.basename(p).startswith('_'))
CLS_DEMO = 'configs/demo/rla_resnet_cls_demo.py'


def mmpretrain_train_defaults(cfg):
    """The dataloader part of ``merge_args`` in mmpretrain's tools/train.py
    (torch >= 1.8, no ``--no-pin-memory`` / ``--no-persistent-workers``)."""
    default_dataloader_cfg = ConfigDict(
        pin_memory=True,
        persistent_workers=True,
        collate_fn=dict(type='default_collate'),
    )
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field, None) is None:
            continue
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        cfg[field] = dataloader_cfg
    return cfg


@pytest.mark.parametrize('path', CONFIGS)
def test_dataloaders_accept_mmpretrain_train_defaults(path):
    cfg = mmpretrain_train_defaults(
        Config.fromfile(osp.join(REPO_ROOT, path)))
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:
            continue
        assert loader.get('num_workers', 0) > 0 or \
            not loader.persistent_workers, (
                f'{path}: {field} has num_workers=0 and would get '
                'persistent_workers=True from mmpretrain\'s tools/train.py; '
                'set persistent_workers=False in the config')


@pytest.mark.slow
def test_classification_demo_trains_under_mmpretrain_train_entry(tmp_path):
    """The classification demo, with mmpretrain's train.py defaults, trains
    and validates through ``Runner.from_cfg`` (one epoch; the full demo is
    tests/test_models/test_backbones/test_rla_resnet_cifar.py's)."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    spec = importlib.util.spec_from_file_location(
        'make_cls_demo_data',
        osp.join(REPO_ROOT, 'tools', 'misc', 'make_cls_demo_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    data = tool.make_cls_demo_data(str(tmp_path / 'demo_cls'))
    cfg = Config.fromfile(osp.join(REPO_ROOT, CLS_DEMO))
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[field].dataset.data_root = data
    cfg = mmpretrain_train_defaults(cfg)
    cfg.launcher = 'none'
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    runner = Runner.from_cfg(cfg)
    seen = {}

    class ValMetrics(Hook):
        def after_val_epoch(self, runner, metrics=None):
            seen.update(metrics)

    runner.register_hook(ValMetrics())
    runner.train()
    assert runner.train_loop.dataloader.persistent_workers is False
    assert 0 <= seen['accuracy/top1'] <= 100
