"""End-to-end runs of tools/train.py, test.py and dist_train.sh on demo data.

Slow (real training, real CocoMetric/pycocotools, real torchrun processes):
marked ``slow``; ``make test`` and CI run them.
"""
import os.path as osp
import re
import sys

import pytest
import torch

import rla_mm  # noqa: F401  (weights-only loading of Runner checkpoints)

from demo_utils import demo_data_options, run_tool, tiny_demo_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return tiny_demo_data(tmp_path_factory.mktemp('demo') / 'data')


def _train(config, work_dir, demo_root, *extra, max_epochs=1, check=True):
    args = ['tools/train.py', config, '--work-dir', str(work_dir),
            '--cfg-options', *demo_data_options(demo_root, max_epochs), *extra]
    return run_tool(args, check=check)


@pytest.mark.parametrize('config,metrics,extra', [
    ('configs/demo/faster_rcnn_rla_demo.py', ['coco/bbox_mAP'], []),
    ('configs/demo/mask_rcnn_rla_demo.py', ['coco/bbox_mAP',
                                            'coco/segm_mAP'], []),
    # after two iterations RetinaNet's scores still sit at the focal-loss
    # prior (0.01), below the default threshold: keep every detection so
    # that CocoMetric has something to evaluate
    ('configs/demo/retinanet_rla_demo.py', ['coco/bbox_mAP'],
     ['model.test_cfg.score_thr=0.0']),
])
def test_train_and_evaluate(config, metrics, extra, demo_root, tmp_path):
    proc = _train(config, tmp_path, demo_root, *extra)
    log = proc.stdout + proc.stderr
    for metric in metrics:
        assert re.search(rf'{metric}: \d\.\d+', log), log[-3000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')


def test_resume_and_test_tool(demo_root, tmp_path):
    config = 'configs/demo/faster_rcnn_rla_demo.py'
    _train(config, tmp_path, demo_root, max_epochs=1)
    first = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    # An interrupted save of epoch 2 by a non-atomic writer: a truncated
    # file that `last_checkpoint` points at. The resume must skip it.
    with open(tmp_path / 'epoch_1.pth', 'rb') as f:
        head = f.read(1000)
    (tmp_path / 'epoch_2.pth').write_bytes(head)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    proc = _train(config, tmp_path, demo_root, '--resume', max_epochs=2)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1' in log, log[-3000:]
    second = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)
    iters_per_epoch = first['meta']['iter']
    assert second['meta']['epoch'] == 2
    assert second['meta']['iter'] == 2 * iters_per_epoch
    # the optimizer state continued (AdamW step count), not restarted
    steps = [s['step'] for s in second['optimizer']['state'].values()]
    assert int(max(steps)) == 2 * iters_per_epoch

    # tools/test.py on the saved checkpoint
    proc = run_tool([
        'tools/test.py', config, str(tmp_path / 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--show-dir', 'vis', '--cfg-options',
        *demo_data_options(demo_root)
    ])
    assert re.search(r'coco/bbox_mAP: \d\.\d+', proc.stdout + proc.stderr)
    assert list((tmp_path / 'test').glob('*/vis/*.png'))


def test_dist_train_two_cpu_processes(demo_root, tmp_path):
    proc = run_tool([
        'bash', 'tools/dist_train.sh', 'configs/demo/faster_rcnn_rla_demo.py',
        '2', '--work-dir', str(tmp_path), '--cfg-options',
        *demo_data_options(demo_root)
    ], env={'PYTHON': sys.executable, 'PORT': '29517'})
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert re.search(r"'backend': 'gloo'", log)
    assert re.search(r'coco/bbox_mAP: \d\.\d+', log)
    # 16 images, batch 8 per process, 2 processes: one iteration per epoch
    ckpt = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 1
