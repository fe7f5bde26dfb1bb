"""The CSR-Conv lightweight-network configs carry the paper's recipe (CSR-Conv
paper Sec. 4 "Implementation") and the authors' notebook's data settings
where the paper is silent; the CSRMobileNetV2 demo detector trains and is
evaluated on the embedded demo data."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT
from demo_utils import demo_data_options, run_tool, tiny_demo_data

NEW = sorted(
    p for pattern in ('*mobilenet-v2*', '*densenet40*', '*efficientnet*')
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', 'csr_conv', pattern)))
DEMO = 'configs/demo/retinanet_csr_mobilenetv2_demo.py'


def test_the_configs_exist():
    assert len(NEW) == 19, [osp.basename(p) for p in NEW]


@pytest.mark.parametrize('path', NEW, ids=osp.basename)
def test_paper_recipe(path):
    cfg = Config.fromfile(path)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == \
        ('SGD', 0.05, 0.9, 5e-4)
    sched = cfg.param_scheduler
    cifar = path.endswith('cifar10.py')
    # halved every 30 epochs on CIFAR-10, / 10 every 10 on ImageNet
    assert (sched.type, sched.step_size, sched.gamma) == \
        (('StepLR', 30, 0.5) if cifar else ('StepLR', 10, 0.1))
    assert cfg.model.backbone.get('csr_cell', 'ode') == 'ode'
    if 'mobilenet-v2' in path and cifar:
        # the notebook: ImageNet mean / std, flip + pad-4 crop, batch 128
        assert cfg.data_preprocessor.mean == [123.675, 116.28, 103.53]
        assert cfg.train_dataloader.batch_size == 128
        names = [t.type for t in cfg.train_dataloader.dataset.pipeline]
        assert 'RandomCrop' in names and 'RandomFlip' in names
        assert cfg.model.head.init_cfg is None


def test_demo_detector_is_an_mmdet_retinanet_with_csr_mobilenetv2():
    cfg = Config.fromfile(osp.join(REPO_ROOT, DEMO))
    assert cfg.model.type == 'RetinaNet'
    b = cfg.model.backbone
    assert (b.type, b.csr_layout, tuple(b.out_indices)) == \
        ('CSRMobileNetV2', 'csr-conv-2', (2, 4, 6))
    assert 'rla_mm' in cfg.custom_imports.imports


@pytest.mark.slow
def test_demo_detector_trains_and_is_evaluated(tmp_path):
    """tools/train.py, one epoch on a tiny copy of the demo data, then
    CocoMetric; every detection kept (after a few iterations RetinaNet's
    scores sit at the focal-loss prior, below the default threshold)."""
    data = tiny_demo_data(tmp_path / 'data')
    proc = run_tool(['tools/train.py', DEMO, '--work-dir', str(tmp_path),
                     '--cfg-options', *demo_data_options(data, 1),
                     'model.test_cfg.score_thr=0.0'])
    log = proc.stdout + proc.stderr
    assert re.search(r'coco/bbox_mAP: \d\.\d+', log), log[-3000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')
