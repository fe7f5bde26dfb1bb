"""The MRLA-light configs carry the authors' settings (MRLA paper, Fang et
al., ICLR 2023, Sec. 4; their train.py and MMDetection 2.x configs), and
build the models the metafile states (exact parameter counts)."""
import glob
import os.path as osp

import pytest
import yaml
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO_ROOT

MRLA_DIR = osp.join(REPO_ROOT, 'configs', 'mrla')
DET = sorted(glob.glob(osp.join(MRLA_DIR, '*_fpn_1x_coco.py')))
CLS = sorted(glob.glob(osp.join(MRLA_DIR, '*_in1k.py')))
DEMO = osp.join(REPO_ROOT, 'configs', 'demo', 'faster_rcnn_mrla_demo.py')


def _cfg(path):
    return Config.fromfile(path)


def _build(cfg, scope):
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone'].pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(ConfigDict(model_cfg))


def _numel(model):
    return sum(p.numel() for p in model.parameters())


def test_the_configs_exist():
    names = sorted(osp.basename(p) for p in DET + CLS)
    assert names == [
        'faster-rcnn_mrla-light-r101_fpn_1x_coco.py',
        'faster-rcnn_mrla-light-r50_fpn_1x_coco.py',
        'mask-rcnn_mrla-light-r50_fpn_1x_coco.py',
        'mrla-light-resnet101_8xb32_in1k.py',
        'mrla-light-resnet50_8xb32_in1k.py',
        'retinanet_mrla-light-r50_fpn_1x_coco.py',
    ]


@pytest.mark.parametrize('path', DET, ids=osp.basename)
def test_detection_configs_follow_the_authors(path):
    cfg = _cfg(path)
    b = cfg.model.backbone
    assert b.type == 'MRLAResNet'
    assert b.depth == (101 if '-r101_' in path else 50)
    assert b.frozen_stages == 1 and b.norm_eval
    assert b.drop_path_rate == 0 and b.recurrence == 'shortcut'
    assert b.mrla_head_dim == 32 and tuple(b.out_indices) == (0, 1, 2, 3)
    assert b.init_cfg.type == 'Pretrained'
    assert b.init_cfg.prefix == 'backbone.'
    assert f'resnet{b.depth}_in1k' in b.init_cfg.checkpoint
    opt = cfg.optim_wrapper.optimizer
    lr = 0.01 if 'retinanet' in path else 0.02
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == \
        ('SGD', lr, 0.9, 1e-4)
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_epochs == 12
    warmup, step = cfg.param_scheduler
    assert (warmup.type, warmup.by_epoch, warmup.end) == \
        ('LinearLR', False, 500)
    assert step.type == 'MultiStepLR' and step.milestones == [8, 11]
    resize = [t for t in cfg.train_dataloader.dataset.pipeline
              if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (1333, 800)
    assert any(t.type == 'RandomFlip' for t in
               cfg.train_dataloader.dataset.pipeline)


@pytest.mark.parametrize('path', CLS, ids=osp.basename)
def test_imagenet_configs_follow_the_authors(path):
    cfg = _cfg(path)
    b = cfg.model.backbone
    assert b.type == 'MRLAResNet' and tuple(b.out_indices) == (3, )
    assert b.drop_path_rate == 0.2 and b.recurrence == 'shortcut'
    assert cfg.model.neck.type == 'GlobalAveragePooling'
    assert cfg.model.head.in_channels == 2048
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == \
        ('SGD', 0.1, 0.9, 1e-4)
    assert cfg.train_dataloader.batch_size * 8 == 256
    assert cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.train_cfg.max_epochs == 100
    warmup, step = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 3)
    assert warmup.start_factor * opt.lr == pytest.approx(1e-4)
    assert (step.type, step.milestones, step.gamma, step.by_epoch) == \
        ('MultiStepLR', [30, 60, 90], 0.1, True)
    crop = [t for t in cfg.train_dataloader.dataset.pipeline
            if t.type == 'RandomResizedCrop'][0]
    assert crop.scale == 224


@pytest.mark.parametrize('path,want', [
    ('mrla-light-resnet50_8xb32_in1k.py', 25_738_452),
    ('mrla-light-resnet101_8xb32_in1k.py', 44_939_646),
])
def test_imagenet_classifiers_have_the_authors_counts(path, want):
    import torch
    with torch.device('meta'):
        model = _build(_cfg(osp.join(MRLA_DIR, path)), 'mmpretrain')
    assert _numel(model) == want


def test_metafile_states_every_config_and_marks_paper_numbers():
    with open(osp.join(MRLA_DIR, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    models = {m['Config']: m for m in meta['Models']}
    for path in DET + CLS:
        rel = osp.relpath(path, REPO_ROOT)
        assert rel in models, rel
        entry = models[rel]
        assert entry['Name'] == osp.splitext(osp.basename(path))[0]
        if 'Results' in entry:
            assert entry['Results Source']['Type'] == 'reported-by-paper'
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        assert 'configs/mrla/metafile.yml' in yaml.safe_load(f)['Import']


def test_demo_config_is_the_rla_demo_with_an_mrla_backbone():
    mrla, rla = _cfg(DEMO), _cfg(osp.join(osp.dirname(DEMO),
                                          'faster_rcnn_rla_demo.py'))
    b = mrla.model.backbone
    assert (b.type, b.depth, b.base_channels, b.mrla_head_dim) == \
        ('MRLAResNet', 18, 16, 8)
    assert b.init_cfg is None  # trained from scratch, nothing downloaded
    for key in ('neck', 'rpn_head', 'roi_head', 'train_cfg', 'test_cfg'):
        assert mrla.model[key] == rla.model[key], key
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'val_evaluator'):
        assert mrla[key] == rla[key], key
    model = _build(mrla, 'mmdet')
    assert [m.num_heads for m in model.backbone.modules()
            if type(m).__name__ == 'MRLALight'][::2] == [2, 4, 8, 16]
