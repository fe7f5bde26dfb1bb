"""End-to-end runs of tools/train.py, test.py and dist_train.sh on demo data.

Slow (real training, real CocoMetric/pycocotools, real torchrun processes):
marked ``slow``; ``make test`` and CI run them.
"""
import os.path as osp
import re
import shlex
import signal

import pytest
import torch

import rla_mm  # noqa: F401  (weights-only loading of Runner checkpoints)

from demo_utils import (REPO, demo_data_options, run_as_user, run_tool,
                        tiny_demo_data)

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


def test_readme_dist_train_as_written_in_a_fresh_shell(demo_root, tmp_path):
    """README: `bash tools/dist_train.sh configs/demo/faster_rcnn_rla_demo.py
    2` in a fresh shell whose `python` has no torch (env -i: PATH and HOME
    only, no virtualenv, nothing on PYTHONPATH). The script finds the
    project's .venv itself; two real gloo processes train and evaluate."""
    if not osp.isfile(osp.join(REPO, '.venv', 'bin', 'python')):
        pytest.skip('no .venv (made by `make install`)')
    assert run_as_user('python -c "import torch"', tmp_path).returncode != 0
    opts = ' '.join(shlex.quote(o) for o in demo_data_options(demo_root))
    proc = run_as_user(
        'PORT=29517 bash tools/dist_train.sh '
        'configs/demo/faster_rcnn_rla_demo.py 2 '
        f'--work-dir {shlex.quote(str(tmp_path / "work"))} --cfg-options '
        f'{opts}', tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert 'Distributed training: True' in log
    assert re.search(r"'backend': 'gloo'", log)
    assert re.search(r'coco/bbox_mAP: \d\.\d+', log)
    # 2 processes x batch 8 = 16, the config's base_batch_size is 8
    assert 'TOTAL BATCH 16 (2 process(es) x 8)' in log
    # 16 images, batch 8 per process, 2 processes: one iteration per epoch
    ckpt = torch.load(tmp_path / 'work' / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 1


_KILL_DURING_SAVE = """
import os, signal
_replace = os.replace
def _replace_or_die(src, dst, *args, **kwargs):
    if os.path.basename(os.fspath(dst)) == os.environ['KILL_AT']:
        os.kill(os.getpid(), signal.SIGKILL)  # mid-save: bytes written
    return _replace(src, dst, *args, **kwargs)
os.replace = _replace_or_die
"""


def test_kill_during_save_with_max_keep_1_then_resume(demo_root, tmp_path):
    """kill -9 while epoch_2.pth is written, max_keep_ckpts=1: epoch_1.pth
    is still there (mmengine's own hook deletes it first), the pointer
    names it, and --resume continues from it and cleans the .part file."""
    inject = tmp_path / 'inject'
    inject.mkdir()
    (inject / 'sitecustomize.py').write_text(_KILL_DURING_SAVE)
    work = tmp_path / 'work'
    config = 'configs/demo/faster_rcnn_rla_demo.py'
    keep1 = ['default_hooks.checkpoint.max_keep_ckpts=1',
             'train_cfg.val_interval=10']
    proc = run_tool(['tools/train.py', config, '--work-dir', str(work),
                     '--cfg-options', *demo_data_options(demo_root, 2),
                     *keep1], env={'PYTHONPATH': str(inject),
                                   'KILL_AT': 'epoch_2.pth'}, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_1.pth']
    assert [p.name for p in work.glob('.epoch_2.pth.*.part')]
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')

    proc = _train(config, work, demo_root, *keep1, '--resume', max_epochs=2)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1' in log, log[-3000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_2.pth']
    assert not list(work.glob('.*.part'))
    assert torch.load(work / 'epoch_2.pth',
                      weights_only=True)['meta']['epoch'] == 2
