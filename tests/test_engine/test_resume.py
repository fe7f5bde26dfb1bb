"""--resume: the newest checkpoint that loads, or one line saying why not."""
import pytest
import torch

from rla_mm.engine.errors import UserInputError
from rla_mm.engine.resume import (check_resumable, checkpoint_files,
                                  resolve_resume)


def _training_ckpt(path, epoch):
    torch.save({'meta': {'epoch': epoch, 'iter': 3 * epoch},
                'state_dict': {'w': torch.zeros(2)}}, path)
    return str(path)


def test_nothing_to_resume_starts_fresh_saying_so(tmp_path):
    # mmengine's pointer names a file that is gone (the old CheckpointHook
    # deleted it before the next save was complete)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    found, note = resolve_resume(str(tmp_path), 'auto')
    assert found is None
    assert note == (f'--resume: no checkpoint in {tmp_path} yet: starting '
                    'from scratch')


def test_only_unreadable_checkpoints_stop(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 truncated')
    (tmp_path / 'iter_20.pth').write_bytes(b'')
    assert [p.rsplit('/', 1)[1] for p in checkpoint_files(str(tmp_path))] \
        == ['iter_20.pth', 'epoch_1.pth']
    with pytest.raises(UserInputError) as info:
        resolve_resume(str(tmp_path), 'auto')
    msg = str(info.value)
    assert '\n' not in msg and str(tmp_path) in msg
    assert 'iter_20.pth' in msg and '--resume PATH' in msg


def test_newest_loadable_wins(tmp_path):
    _training_ckpt(tmp_path / 'epoch_1.pth', 1)
    good = _training_ckpt(tmp_path / 'epoch_2.pth', 2)
    (tmp_path / 'epoch_3.pth').write_bytes(
        (tmp_path / 'epoch_2.pth').read_bytes()[:300])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert resolve_resume(str(tmp_path), 'auto') == (good, None)
    assert (tmp_path / 'last_checkpoint').read_text() == good


def test_truncated_explicit_checkpoint_is_one_line(tmp_path):
    path = _training_ckpt(tmp_path / 'epoch_1.pth', 1)
    with open(path, 'rb') as f:
        head = f.read(400)
    with open(path, 'wb') as f:
        f.write(head)
    with pytest.raises(UserInputError) as info:
        resolve_resume(str(tmp_path), path)
    msg = str(info.value)
    assert '\n' not in msg and path in msg and 'not a complete' in msg


@pytest.mark.parametrize('ckpt,what', [
    ({'state_dict': {'w': torch.zeros(1)},
      'meta': {'backbone': {'type': 'RLAResNet'}}}, "meta['epoch']"),
    ({'state_dict': {'w': torch.zeros(1)}, 'meta': {'epoch': 3}},
     "meta['iter']"),
    ({'w': torch.zeros(1)}, "meta['epoch']"),
])
def test_weights_only_checkpoint_names_load_from(tmp_path, ckpt, what):
    path = tmp_path / 'converted.pth'
    torch.save(ckpt, path)
    with pytest.raises(UserInputError) as info:
        check_resumable(str(path))
    msg = str(info.value)
    assert what in msg and f'load_from={path}' in msg and '\n' not in msg


def test_no_resume_flag(tmp_path):
    assert resolve_resume(str(tmp_path), None) == (None, None)
