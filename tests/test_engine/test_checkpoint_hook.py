"""AtomicCheckpointHook: a run killed while saving keeps its last complete
checkpoint even with ``max_keep_ckpts=1``, and ``--resume`` continues."""
import os

import pytest
import torch
from mmengine.fileio import LocalBackend

import rla_mm  # noqa: F401
from rla_mm.engine.fileio import ATOMIC_BACKEND
from rla_mm.engine.hooks import AtomicCheckpointHook
from rla_mm.engine.resume import resolve_resume

from tiny_runner import tiny_classifier_runner


def _runner(work_dir, data_root, max_epochs, hook_type, resume=False,
            load_from=None):
    return tiny_classifier_runner(
        work_dir, data_root, max_epochs, resume, load_from, batch_size=6,
        checkpoint=dict(type=hook_type, interval=1, max_keep_ckpts=1,
                        backend_args=dict(backend=ATOMIC_BACKEND)))


def _kill_when_saving(monkeypatch, name):
    """The process dies after the new checkpoint's bytes are written but
    before they are renamed into place (KeyboardInterrupt stands for the
    kill; a real kill -9 is in tests/test_tools/test_tools_e2e.py)."""
    replace = os.replace

    def dying_replace(src, dst):
        if os.path.basename(dst) == name:
            raise KeyboardInterrupt
        return replace(src, dst)

    monkeypatch.setattr(os, 'replace', dying_replace)


@pytest.mark.parametrize('hook_type', ['AtomicCheckpointHook',
                                       'CheckpointHook'])
def test_kill_while_saving_with_max_keep_1(tmp_path, image_folder,
                                           monkeypatch, hook_type):
    work = str(tmp_path / 'work')
    _runner(work, image_folder, 1, hook_type).train()
    assert os.path.isfile(f'{work}/epoch_1.pth')
    with monkeypatch.context() as m:
        _kill_when_saving(m, 'epoch_2.pth')
        with pytest.raises(KeyboardInterrupt):
            _runner(work, image_folder, 2, hook_type, resume=True).train()
    assert not [f for f in os.listdir(work) if f.endswith('.part')]
    found, note = resolve_resume(work, 'auto')
    if hook_type == 'CheckpointHook':
        # mmengine's hook deleted epoch_1 before saving epoch_2: nothing
        # left, and its pointer names the deleted file. The resume says so
        # in one line and starts from scratch.
        assert not os.path.exists(f'{work}/epoch_1.pth')
        assert found is None and 'starting from scratch' in note
        return
    assert found == f'{work}/epoch_1.pth' and note is None
    with open(f'{work}/last_checkpoint') as f:
        assert f.read() == found
    runner = _runner(work, image_folder, 2, hook_type, resume=True,
                     load_from=found)
    runner.train()
    assert runner.train_loop.epoch == 2
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == \
        ['epoch_2.pth']
    ckpt = torch.load(f'{work}/epoch_2.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [2]


def test_removals_wait_for_the_save(tmp_path):
    """The previous best / outdated files go only when the save completed."""
    old = tmp_path / 'best_acc_epoch_1.pth'
    old.write_bytes(b'previous best')
    hook = AtomicCheckpointHook(interval=1)
    hook.file_backend = LocalBackend()
    hook.last_ckpt = None
    with pytest.raises(KeyboardInterrupt):
        with hook._removals_after_save():
            hook.file_backend.remove(str(old))
            raise KeyboardInterrupt  # killed while saving the new best
    assert old.exists()
    with hook._removals_after_save():
        hook.file_backend.remove(str(old))
        assert old.exists()  # not yet: the save has not completed
    assert not old.exists()
    assert isinstance(hook.file_backend, LocalBackend)


def test_stale_part_files_removed_at_start(tmp_path, image_folder):
    work = tmp_path / 'work'
    work.mkdir()
    part = work / '.epoch_3.pth.ab12cd34.part'
    part.write_bytes(b'killed mid-save')
    _runner(str(work), image_folder, 1, 'AtomicCheckpointHook').train()
    assert not part.exists()
    assert (work / 'epoch_1.pth').is_file()
