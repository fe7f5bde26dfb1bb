"""Atomic checkpoint writes, resume resolution and backend selection."""
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import get_file_backend

from rla_mm.engine.fileio import ATOMIC_BACKEND, AtomicLocalBackend
from rla_mm.engine.cuda_ops import check_mmcv_cuda_ops, mmcv_cuda_ops_problem
from rla_mm.engine.launch import (annotation_files, batch_size_warning,
                                  dist_init_kwargs, invalid_json,
                                  setup_distributed, use_atomic_checkpoints)
from rla_mm.engine.resume import find_resume_checkpoint


def test_atomic_put_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_1.pth'
    backend = get_file_backend(backend_args=dict(backend=ATOMIC_BACKEND))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put(b'complete', target)
    assert target.read_bytes() == b'complete'

    def crash(*args):
        raise KeyboardInterrupt  # the run is killed in the middle of a save

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'x' * 10_000, target)
    assert target.read_bytes() == b'complete'
    assert [p.name for p in tmp_path.iterdir()] == ['epoch_1.pth']


def test_train_tool_config_uses_atomic_checkpoints():
    cfg = Config(dict(default_hooks=dict(
        checkpoint=dict(type='CheckpointHook', interval=1))))
    use_atomic_checkpoints(cfg)
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend=ATOMIC_BACKEND)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'


def _save(path, epoch):
    torch.save({'meta': {'epoch': epoch}, 'state_dict': {}}, path)


def test_find_resume_checkpoint(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None
    _save(tmp_path / 'epoch_1.pth', 1)
    _save(tmp_path / 'epoch_2.pth', 2)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_2.pth')
    # epoch 3 was cut off mid-write by a non-atomic writer
    (tmp_path / 'epoch_3.pth').write_bytes(
        (tmp_path / 'epoch_2.pth').read_bytes()[:200])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_2.pth')
    # ... and the pointer is repaired
    assert (tmp_path / 'last_checkpoint').read_text().endswith('epoch_2.pth')
    # an empty pointer (killed while writing it)
    (tmp_path / 'last_checkpoint').write_text('')
    assert find_resume_checkpoint(str(tmp_path)).endswith('epoch_2.pth')


def test_setup_distributed_keeps_non_distributed_runs_alone():
    cfg = Config(dict(launcher='none', env_cfg=dict(
        dist_cfg=dict(backend='nccl'))))
    setup_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


# ------------------------------------------------ env_cfg.dist_cfg on gloo
_ONE_OF_TWO_RANKS = '''
import sys, time
from mmengine.config import Config
from rla_mm.engine.launch import setup_distributed
cfg = Config(dict(launcher='pytorch', env_cfg=dict(
    dist_cfg=dict(backend='nccl', timeout=float(sys.argv[1])))))
start = time.time()
try:
    setup_distributed(cfg)
except Exception as e:  # the second rank never came
    print(f'GAVE UP after {time.time() - start:.1f}s: {type(e).__name__}')
'''


def test_dist_cfg_timeout_reaches_the_gloo_group(tmp_path):
    """Rank 0 of a 2-process job whose rank 1 never starts: the group
    gives up after env_cfg.dist_cfg.timeout (3 s), not torch's 30 min."""
    env = dict(os.environ, WORLD_SIZE='2', RANK='0', LOCAL_RANK='0',
               MASTER_ADDR='127.0.0.1', MASTER_PORT='29533',
               CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, '-c', _ONE_OF_TWO_RANKS, '3'],
                          capture_output=True, text=True, env=env,
                          timeout=120)
    m = re.search(r'GAVE UP after ([\d.]+)s', proc.stdout)
    assert m, proc.stdout + proc.stderr[-2000:]
    assert float(m.group(1)) < 30


@pytest.mark.parametrize('dist_cfg,want', [
    (dict(backend='nccl', timeout=30), dict(timeout=timedelta(seconds=30))),
    (dict(timeout=1.5, init_method='env://'),
     dict(timeout=timedelta(seconds=1.5), init_method='env://')),
    (dict(backend='gloo'), {}),
])
def test_dist_init_kwargs_as_mmengine(dist_cfg, want):
    assert dist_init_kwargs(dist_cfg) == want


@pytest.mark.parametrize('dist_cfg,word', [
    (dict(timeout='30'), 'timeout'),
    (dict(init_backend='deepspeed'), 'init_backend'),
])
def test_dist_init_kwargs_refused(dist_cfg, word):
    with pytest.raises(ValueError, match=word):
        dist_init_kwargs(dist_cfg)


# --------------------------------------------------- total batch vs paper
def _batch_cfg(per_process=2, base=8, enable=False):
    return Config(dict(
        train_dataloader=dict(batch_size=per_process),
        auto_scale_lr=dict(enable=enable, base_batch_size=base),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01))))


@pytest.mark.parametrize('world_size,auto_scale,enable,warns', [
    (4, False, False, False),  # 4 x 2 = 8: the paper's batch
    (8, False, False, True),   # 16 at lr 0.01
    (1, False, False, True),
    (8, True, False, False),   # --auto-scale-lr scales the lr
    (8, False, True, False),   # the config enables it
])
def test_batch_size_warning(world_size, auto_scale, enable, warns):
    line = batch_size_warning(_batch_cfg(enable=enable), world_size,
                              auto_scale)
    assert (line is not None) == warns
    if warns:
        total = world_size * 2
        assert f'TOTAL BATCH {total} ({world_size} process(es) x 2)' in line
        assert 'base_batch_size=8' in line and 'lr=0.01' in line
        assert '--auto-scale-lr' in line and '\n' not in line


# ----------------------------------------------------- annotation files
def test_invalid_annotation_json_is_named(tmp_path):
    good = tmp_path / 'instances_val.json'
    good.write_text('{"images": []}')
    bad = tmp_path / 'instances_train.json'
    bad.write_text('{"images": [1, 2,')
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2, dataset=dict(
                data_root=str(tmp_path), ann_file='instances_train.json'))),
        val_dataloader=dict(dataset=dict(ann_file=str(good))),
        val_evaluator=dict(type='CocoMetric', ann_file=str(good)),
        test_evaluator=[dict(type='CocoMetric', ann_file=str(good))]))
    assert annotation_files(cfg) == [str(bad), str(good)]
    line = invalid_json(annotation_files(cfg))
    assert line.startswith(f'annotation file {bad} is not valid JSON (')
    assert 'line 1' in line and '\n' not in line
    assert invalid_json([str(good)]) is None


# ------------------------------------------ mmcv without CUDA ops on a GPU
@pytest.mark.parametrize('gpus,mmcv_cuda,choice,refused', [
    (0, None, 'auto', False),      # CPU machine, CPU ops
    (2, '12.1', 'auto', False),    # GPU machine, CUDA ops
    (1, None, 'auto', True),       # GPU machine, CPU-only mmcv
    (1, None, 'cuda', True),
    (1, None, 'cpu', False),       # CPU ops chosen on purpose
    (0, '12.1', 'auto', False),
])
def test_mmcv_cuda_ops_decision(gpus, mmcv_cuda, choice, refused):
    line = mmcv_cuda_ops_problem(gpus, mmcv_cuda, '2.1.0', choice)
    assert (line is not None) == refused
    if refused:
        assert line.startswith('mmcv 2.1.0 was built without CUDA ops, but '
                               f'torch sees {gpus} GPU(s)')
        assert 'bash tools/setup_env.sh' in line and '\n' not in line


def test_mmcv_cuda_ops_check_on_this_machine():
    """Whatever this machine is, an installation made by setup_env.sh for
    it passes (CPU: nothing to check; GPU: CUDA ops were built)."""
    check_mmcv_cuda_ops()
