"""Atomic checkpoint writes, resume resolution and backend selection."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import get_file_backend

from rla_mm.utils import (ATOMIC_BACKEND, AtomicLocalBackend,
                          find_resume_checkpoint, setup_distributed,
                          use_atomic_checkpoints)


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
