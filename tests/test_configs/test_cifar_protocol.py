"""The CIFAR configs follow the protocol of the RLA paper (Zhao, Fang, Li,
"Recurrence along Depth", NeurIPS 2021, arXiv:2110.11852, App. B.1): train on
a fixed 45k subset of the training set, keep the best checkpoint on the other
5k, report on the 10k test set; the ``*_trainval.py`` variants train on all
50k. Checked on real-format CIFAR-10 stand-ins read by mmpretrain's own
``CIFAR10`` (file names, pickles and md5 check as in the release), whose
every image carries its index in the release order in two pixels."""
import hashlib
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import REPO_ROOT

PAPER = ['rla_resnet110_cifar10.py', 'rla_resnet164_cifar10.py',
         'rla_resnet110_cifar100.py', 'rla_resnet164_cifar100.py']
TRAIN_IDS = list(range(45000))  # data_batch_1 .. the first half of _5
VAL_IDS = list(range(45000, 50000))  # the second half of data_batch_5
TEST_IDS = list(range(50000, 60000))  # test_batch


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


@pytest.fixture(scope='module')
def cifar10_stand_in(tmp_path_factory):
    """A full-size CIFAR-10 (5 x 10,000 training, 10,000 test images) in the
    release's format; image i (in release order, test images after the
    training ones) holds i // 256 and i % 256 in its first two red pixels.
    Returns (data_root, md5 by file name)."""
    from mmpretrain.datasets import CIFAR10
    root = tmp_path_factory.mktemp('cifar10')
    folder = root / CIFAR10.base_folder
    folder.mkdir()
    md5 = {}
    files = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list]
    for f, name in enumerate(files):
        ids = np.arange(f * 10000, (f + 1) * 10000)
        data = np.zeros((10000, 3072), dtype=np.uint8)
        data[:, 0], data[:, 1] = ids // 256, ids % 256
        entry = dict(data=data, labels=[int(i) % 10 for i in ids])
        (folder / name).write_bytes(pickle.dumps(entry))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    meta = folder / CIFAR10.meta['filename']
    meta.write_bytes(pickle.dumps({'label_names': [f'c{i}'
                                                   for i in range(10)]}))
    md5['meta'] = hashlib.md5(meta.read_bytes()).hexdigest()
    return str(root), md5


@pytest.fixture
def cifar10(cifar10_stand_in, monkeypatch):
    """Point mmpretrain's CIFAR10 integrity check at the stand-in."""
    from mmpretrain.datasets import CIFAR10
    root, md5 = cifar10_stand_in
    monkeypatch.setattr(CIFAR10, 'train_list',
                        [[n, md5[n]] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, 'test_list',
                        [[n, md5[n]] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, 'meta', dict(CIFAR10.meta, md5=md5['meta']))
    return root


def _image_id(img):
    """The index written into an image (HWC array or CHW tensor)."""
    img = np.asarray(img)
    if img.shape[0] == 3:  # CHW
        return int(img[0, 0, 0]) * 256 + int(img[0, 0, 1])
    return int(img[0, 0, 0]) * 256 + int(img[0, 1, 0])


def _ids(loader_cfg, data_root):
    from mmpretrain.registry import DATASETS
    ds_cfg = loader_cfg.dataset.copy()
    ds_cfg.update(data_root=data_root, serialize_data=False)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(ds_cfg)
    return [_image_id(info['img']) for info in dataset.data_list]


def test_paper_split_is_fixed_45k_train_5k_val_10k_test(cifar10):
    cfg = _cfg('rla_resnet110_cifar10.py')
    assert _ids(cfg.train_dataloader, cifar10) == TRAIN_IDS
    assert _ids(cfg.val_dataloader, cifar10) == VAL_IDS
    assert _ids(cfg.test_dataloader, cifar10) == TEST_IDS


def test_trainval_variant_trains_on_all_50k(cifar10):
    cfg = _cfg('rla_resnet110_cifar10_trainval.py')
    assert _ids(cfg.train_dataloader, cifar10) == TRAIN_IDS + VAL_IDS
    assert _ids(cfg.val_dataloader, cifar10) == TEST_IDS
    assert _ids(cfg.test_dataloader, cifar10) == TEST_IDS
    assert cfg.default_hooks.checkpoint.save_best is None


@pytest.mark.parametrize('name', PAPER)
def test_trainval_configs_change_only_the_data_protocol(name):
    """Each ``_trainval`` config (which inherits the base directly, to stay
    within two levels) resolves to its paper config with only the training
    indices, the validation split and the checkpoint selection changed."""
    paper = _cfg(name)
    paper.merge_from_dict({
        'train_dataloader.dataset.indices': None,
        'val_dataloader.dataset.split': 'test',
        'val_dataloader.dataset.indices': None,
        'default_hooks.checkpoint.save_best': None,
    })
    trainval = _cfg(name.replace('.py', '_trainval.py'))
    assert trainval.to_dict() == paper.to_dict()


@pytest.mark.parametrize('name', PAPER)
def test_paper_configs_select_on_the_held_out_5k(name):
    """Every paper config: the same split of its dataset (CIFAR-100 has the
    same 50k / 10k layout), no augmentation on the validation split, and the
    best checkpoint chosen on the validation metric."""
    cfg = _cfg(name)
    num_classes = 100 if 'cifar100' in name else 10
    train, val, test = (cfg[f'{s}_dataloader'].dataset
                        for s in ('train', 'val', 'test'))
    assert {train.type, val.type, test.type} == {f'CIFAR{num_classes}'}
    assert {ds.data_root.rstrip('/') for ds in (train, val, test)} == \
        {f'data/cifar{num_classes}'}
    assert (train.split, train.indices) == ('train', 45000)
    assert (val.split, val.indices) == ('train', -5000)
    assert test.split == 'test' and test.get('indices') is None
    assert [t.type for t in val.pipeline] == \
        [t.type for t in test.pipeline] == ['PackInputs']
    hook = cfg.default_hooks.checkpoint
    assert hook.type == 'CheckpointHook' and hook.save_best == 'auto'
    assert cfg.val_evaluator.type == 'Accuracy'
    assert cfg.model.head.num_classes == num_classes


@pytest.mark.slow
def test_best_checkpoint_is_chosen_on_the_validation_split(cifar10, tmp_path):
    """mmengine's Runner with the paper config (a depth-20 model to be quick,
    two training iterations): the validation that CheckpointHook's
    ``save_best`` reads runs on exactly the 5k held-out images, and the best
    checkpoint it writes records that score."""
    import torch
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    class SeenImages(Hook):
        def __init__(self):
            self.val, self.metrics = [], None

        def after_val_iter(self, runner, batch_idx, data_batch=None,
                           outputs=None):
            self.val += [_image_id(img) for img in data_batch['inputs']]

        def after_val_epoch(self, runner, metrics=None):
            self.metrics = dict(metrics)

    cfg = _cfg('rla_resnet110_cifar10.py')
    cfg.model.backbone.depth = 20
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].update(num_workers=0,
                                          persistent_workers=False)
        cfg[f'{split}_dataloader'].dataset.data_root = cifar10
    cfg.val_dataloader.batch_size = 500
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = None
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    seen = SeenImages()
    runner.register_hook(seen, priority='VERY_HIGH')
    runner.train()
    assert sorted(seen.val) == VAL_IDS
    best = [f for f in os.listdir(tmp_path) if f.startswith('best_')]
    assert len(best) == 1 and best[0].startswith('best_accuracy_top1_'), best
    meta = torch.load(osp.join(tmp_path, best[0]), map_location='cpu',
                      weights_only=True)['message_hub']
    assert meta['runtime_info']['best_score'] == \
        pytest.approx(seen.metrics['accuracy/top1'])
