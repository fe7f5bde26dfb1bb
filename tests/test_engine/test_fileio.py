"""rla_mm.engine.fileio: the one atomic writer (temp + fsync + rename),
with the permissions of a plain ``open()``."""
import os
import stat

import pytest
from mmengine.fileio import get_file_backend

from rla_mm.engine.fileio import (ATOMIC_BACKEND, atomic_write_bytes,
                                  atomic_writer, current_umask,
                                  remove_stale_parts, stale_parts)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process umask for a test, restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def test_writer_text_and_bytes(tmp_path):
    with atomic_writer(tmp_path / 'a.json', 'w') as f:
        f.write('{"ä": 1}')
    assert (tmp_path / 'a.json').read_text(encoding='utf-8') == '{"ä": 1}'
    atomic_write_bytes(b'\x00\x01', tmp_path / 'sub' / 'b.bin')
    assert (tmp_path / 'sub' / 'b.bin').read_bytes() == b'\x00\x01'
    assert stale_parts(tmp_path) == []


def test_error_in_block_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / 'epoch_1.pth'
    target.write_bytes(b'complete')
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(target) as f:
            f.write(b'half')
            raise KeyboardInterrupt  # killed in the middle of a save
    assert target.read_bytes() == b'complete'
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth']


@pytest.mark.parametrize('mode', ['a', 'r', 'wb+', 'x'])
def test_mode_checked(tmp_path, mode):
    with pytest.raises(ValueError, match='mode'):
        with atomic_writer(tmp_path / 'x', mode):
            pass


@pytest.mark.parametrize('mask', [0o022, 0o077, 0o002])
def test_new_files_honour_the_umask(tmp_path, umask, mask):
    """Same mode as mmengine's own (non-atomic) backend gives."""
    umask(mask)
    assert current_umask() == mask
    assert current_umask() == mask  # reading it did not change it
    atomic_write_bytes(b'x', tmp_path / 'atomic.pth')
    get_file_backend(backend_args=dict(backend=ATOMIC_BACKEND)).put(
        b'x', tmp_path / 'backend.pth')
    get_file_backend(backend_args=dict(backend='local')).put(
        b'x', tmp_path / 'mmengine.pth')
    want = 0o666 & ~mask
    assert _mode(tmp_path / 'mmengine.pth') == want
    assert _mode(tmp_path / 'atomic.pth') == want
    assert _mode(tmp_path / 'backend.pth') == want


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / 'shared.pth'
    target.write_bytes(b'old')
    os.chmod(target, 0o640)
    atomic_write_bytes(b'new', target)
    assert target.read_bytes() == b'new' and _mode(target) == 0o640


def test_stale_parts_are_only_ours(tmp_path):
    ours = tmp_path / '.epoch_2.pth.k3x_9a0q.part'
    ours.write_bytes(b'half')
    others = ['.hidden.part', 'epoch_2.pth', 'notes.part', '.x.TOOLONG12.part']
    for name in others:
        (tmp_path / name).write_bytes(b'')
    assert stale_parts(tmp_path) == [str(ours)]
    assert remove_stale_parts(tmp_path) == [str(ours)]
    assert sorted(os.listdir(tmp_path)) == sorted(others)
