"""Every shipped config parses and builds its model (no network, no weights);
the paper configs carry the paper's settings (RLA paper Sec. 4.2-4.3)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO_ROOT

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                       recursive=True)
    if '_base_' not in p and not osp.basename(p).startswith('_'))
PAPER_DET = [c for c in CONFIGS if c.endswith('_fpn_1x_coco.py')
             and '_rla_' in c and 'mobilenet' not in c]
PAPER_CLS = [c for c in CONFIGS if c.endswith('4xb64_in1k.py')
             and not c.startswith(osp.join('configs', 'rla_ablation'))]


def _without_pretrained(node):
    if isinstance(node, dict):
        return {k: (None if k == 'init_cfg' and isinstance(v, dict)
                    and v.get('type') == 'Pretrained' else
                    _without_pretrained(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_without_pretrained(v) for v in node]
    return node


def test_the_paper_configs_exist():
    assert len(PAPER_DET) == 12, PAPER_DET
    assert len(PAPER_CLS) == 5, PAPER_CLS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds(path):
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    assert 'rla_mm' in cfg.get('custom_imports', {}).get('imports', []), \
        f'{path} must import rla_mm through custom_imports'
    # scoped, so that the default scope does not leak into later tests
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmdet')):
        model = MODELS.build(
            ConfigDict(_without_pretrained(cfg.model.to_dict())))
    assert sum(p.numel() for p in model.parameters()) > 0


def _inheritance_depth(path):
    bases = Config._get_base_files(path)  # noqa
    if not bases:
        return 0
    local = [osp.normpath(osp.join(osp.dirname(path), b)) for b in bases
             if '::' not in b]
    return 1 + max([_inheritance_depth(b) for b in local], default=0)


@pytest.mark.parametrize('path', CONFIGS)
def test_at_most_two_levels_of_inheritance(path):
    assert _inheritance_depth(osp.join(REPO_ROOT, path)) <= 2


@pytest.mark.parametrize('path', PAPER_DET)
def test_detection_configs_follow_the_paper(path):
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    b = cfg.model.backbone
    assert b.type in ('RLAResNet', 'RLAECAResNet')
    assert b.depth == (101 if '_r101_' in path else 50)
    assert (b.type == 'RLAECAResNet') == ('_eca_' in path)
    assert b.frozen_stages == 1 and b.norm_eval and not b.concat_hidden
    assert b.rla_source == 'output'
    assert b.init_cfg.type == 'Pretrained' and b.init_cfg.prefix == \
        'backbone.'
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.train_dataloader.batch_size == 2  # x 4 GPUs = 8
    assert cfg.auto_scale_lr.base_batch_size == 8
    assert cfg.train_cfg.max_epochs == 12
    step = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR'][0]
    assert step.milestones == [8, 11] and step.gamma == 0.1
    assert any(s.type == 'LinearLR' for s in cfg.param_scheduler)
    resize = [t for t in cfg.train_dataloader.dataset.pipeline
              if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (1333, 800)
    assert 'train2017' in cfg.train_dataloader.dataset.ann_file
    assert 'val2017' in cfg.val_dataloader.dataset.ann_file


@pytest.mark.parametrize('path', PAPER_CLS)
def test_classification_configs_follow_the_paper(path):
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    b = cfg.model.backbone
    assert b.concat_hidden and tuple(b.out_indices) == (3, )
    assert cfg.model.head.in_channels == 2048 + b.rla_channel == 2080
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == \
        ('SGD', 0.1, 0.9, 1e-4)
    assert cfg.train_dataloader.batch_size * 4 == 256
    assert cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.train_cfg.max_epochs == 120
    assert cfg.param_scheduler.milestones == [30, 60, 90]
    crop = [t for t in cfg.train_dataloader.dataset.pipeline
            if t.type == 'RandomResizedCrop'][0]
    assert crop.scale == 224
