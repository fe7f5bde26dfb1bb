"""RCStepSamplerHook (cost-adjustable training, [RC-CA] Sec. 4.2, Alg. 2)
and the RC configs in mmengine's Runner.

[RC-CA] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809.
"""
import math
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from rla_mm.testing.cifar_stand_in import make_cifar_stand_in, stand_in_run_cfg

from conftest import REPO_ROOT
from rla_mm.engine import RCStepSamplerHook
from rla_mm.models import RCNet

CFG_DIR = osp.join(REPO_ROOT, 'configs', 'rc')
CIFAR_CONFIGS = sorted(f for f in os.listdir(CFG_DIR) if 'cifar10' in f)


# ------------------------------------------------------- step sampling ---
def test_step_sampler_draws_from_the_distribution():
    hook = RCStepSamplerHook({2: 0.2, 3: 0.3, 4: 0.5, 1: 0.0}, seed=7)
    draws = np.array([hook.draw(i) for i in range(6000)])
    assert set(draws) == {2, 3, 4}  # p = 0 is never drawn
    for step, p in ((2, 0.2), (3, 0.3), (4, 0.5)):
        assert abs((draws == step).mean() - p) < 0.02
    # a draw depends on (seed, iteration) only: same on every rank / resume
    other_rank = RCStepSamplerHook({2: 0.2, 3: 0.3, 4: 0.5}, seed=7)
    assert [other_rank.draw(i) for i in range(50)] == list(draws[:50])
    assert [RCStepSamplerHook({2: .2, 3: .3, 4: .5}, seed=8).draw(i)
            for i in range(50)] != list(draws[:50])


def test_step_sampler_rejects_bad_distributions():
    with pytest.raises(ValueError, match='step_probs'):
        RCStepSamplerHook({2: 0.5, 3: 0.4})
    with pytest.raises(ValueError, match='keys'):
        RCStepSamplerHook({0: 1.0})


def test_step_sampler_checks_the_model(tmp_path):
    def runner(model):
        return Runner(model=model, work_dir=str(tmp_path))

    hook = RCStepSamplerHook({2: 0.5, 3: 0.5})
    with pytest.raises(ValueError, match='max_steps=2'):
        hook.before_run(runner(RCNet(max_steps=2, base_channels=2)))
    with pytest.raises(ValueError, match=r'choose one of \(2, 3\)'):
        hook.before_run(runner(RCNet(max_steps=4, num_steps=4,
                                     base_channels=2)))
    with pytest.raises(ValueError, match='no module'):
        hook.before_run(runner(torch.nn.Conv2d(2, 2, 1)))
    with pytest.raises(ValueError, match='unified_steps=False'):
        RCStepSamplerHook({3: 1.0}, per_cell=True).before_run(
            runner(RCNet(max_steps=3, double_bn=True, base_channels=2)))


# ------------------------------------------------- CIFAR configs, Runner ---
def tiny_run_cfg(name, data_root, work_dir, **backbone):
    """Config ``name`` on the CIFAR-10 stand-in, with a backbone override."""
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    cfg.model.backbone.update(backbone)
    if 'base_channels' in backbone:
        cfg.model.head.in_channels = 4 * backbone['base_channels']
    return stand_in_run_cfg(cfg, data_root, 'StandInCIFAR10', work_dir)


class StepRecorder(Hook):
    priority = 'LOW'  # after RCStepSamplerHook (NORMAL)

    def __init__(self):
        self.train, self.val = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.train.append(runner.model.backbone.num_steps)

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self.val.append(runner.model.backbone.num_steps)

    before_test_iter = before_val_iter


@pytest.mark.slow
@pytest.mark.parametrize('name', CIFAR_CONFIGS)
def test_cifar_configs_run_a_few_iterations(name, tmp_path):
    data, _ = make_cifar_stand_in(tmp_path / 'cifar')
    runner = Runner.from_cfg(tiny_run_cfg(name, data, tmp_path / 'work'))
    recorder = StepRecorder()
    runner.register_hook(recorder)
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and len(recorder.train) == 2
    cfg = runner.cfg
    if 'adjustable' in name:
        hook = [h for h in runner.hooks
                if isinstance(h, RCStepSamplerHook)][0]
        assert recorder.train == [hook.draw(0), hook.draw(1)]
        assert recorder.val == [4]  # the configured test step
    else:
        assert recorder.train == [cfg.model.backbone.num_steps] * 2


def test_adjustable_config_tests_at_the_chosen_step(tmp_path):
    data, _ = make_cifar_stand_in(tmp_path / 'cifar')
    cfg = tiny_run_cfg('rcnet_r2-adjustable_1xb128_cifar10.py', data,
                       tmp_path / 'work', base_channels=4)
    cfg.merge_from_dict({'model.backbone.num_steps': 2})  # --cfg-options
    runner = Runner.from_cfg(cfg)
    recorder = StepRecorder()
    runner.register_hook(recorder)
    runner.test()
    assert recorder.val == [2]
    cfg.merge_from_dict({'model.backbone.num_steps': 1})  # not in support
    with pytest.raises(ValueError, match=r'choose one of \(2, 3, 4\)'):
        Runner.from_cfg(cfg).test()


def test_per_cell_steps_are_drawn_in_the_runner(tmp_path):
    cfg = tiny_run_cfg('rcnet_r2-adjustable_1xb128_cifar10.py',
                       make_cifar_stand_in(tmp_path / 'cifar')[0],
                       tmp_path / 'work', base_channels=4, unified_steps=False)
    cfg.custom_hooks[0].per_cell = True
    runner = Runner.from_cfg(cfg)
    recorder = StepRecorder()
    runner.register_hook(recorder)
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, RCStepSamplerHook)][0]
    drawn = [hook.draw(i, 2) for i in range(2)]
    assert [list(s) if isinstance(s, tuple) else [s] * 2
            for s in recorder.train] == drawn
    assert recorder.val == [4]


@pytest.mark.slow
def test_rc_detector_trains_then_tests_at_the_step_given_on_the_cli(
        tmp_path):
    from demo_utils import demo_data_options, run_tool, tiny_demo_data
    opts = demo_data_options(tiny_demo_data(tmp_path / 'data'))
    cfg = 'configs/rc/faster_rcnn_rc_resnet_demo.py'
    proc = run_tool(['tools/train.py', cfg, '--work-dir', str(tmp_path / 'w'),
                     '--cfg-options', *opts])
    log = proc.stdout + proc.stderr
    assert 'validating RCResNet with num_steps=3' in log
    for t in (1, 2):
        proc = run_tool([
            'tools/test.py', cfg, str(tmp_path / 'w' / 'epoch_1.pth'),
            '--work-dir', str(tmp_path / f't{t}'), '--cfg-options', *opts,
            f'model.backbone.num_steps={t}'])
        log = proc.stdout + proc.stderr
        assert f'testing RCResNet with num_steps={t}' in log
        assert re.search(r'coco/bbox_mAP: \d\.\d+', log), log[-2000:]
