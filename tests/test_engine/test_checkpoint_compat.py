"""mmengine Runner checkpoints load and resume under weights_only=True."""
import subprocess
import sys

import pytest
import torch

import rla_mm  # noqa: F401

from tiny_runner import tiny_classifier_runner


def _runner(work_dir, data_root, max_epochs, resume=False):
    return tiny_classifier_runner(work_dir, data_root, max_epochs, resume)


def test_runner_checkpoint_loads_weights_only_and_resumes(tmp_path,
                                                          image_folder):
    work_dir = str(tmp_path / 'work')
    _runner(work_dir, image_folder, max_epochs=1).train()
    ckpt = f'{work_dir}/epoch_1.pth'
    loaded = torch.load(ckpt, weights_only=True)
    assert 'message_hub' in loaded and 'optimizer' in loaded

    # Without rla_mm's allow-list the same file is rejected by torch itself,
    # so the test above really exercises it.
    script = ('import torch, sys\n'
              f'try:\n    torch.load({ckpt!r}, weights_only=True)\n'
              'except Exception as e:\n    print("REJECTED", type(e).__name__)')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True).stdout
    assert 'REJECTED' in out

    runner = _runner(work_dir, image_folder, max_epochs=2, resume=True)
    runner.train()
    assert runner.train_loop.epoch == 2
    state = torch.load(f'{work_dir}/epoch_2.pth', weights_only=True)
    # the optimizer state (momentum buffers) survived the resume
    assert state['optimizer']['state']
    assert state['meta']['epoch'] == 2


def test_allow_list_is_exact():
    import numpy as np
    from mmengine.logging import HistoryBuffer
    allowed = rla_mm.engine.allowed_checkpoint_globals()
    objs = [a[0] if isinstance(a, tuple) else a for a in allowed]
    assert HistoryBuffer in objs and np.ndarray in objs
    assert getattr not in objs
    assert all(o.__module__.split('.')[0] in ('numpy', 'mmengine')
               or o.__module__ == 'rla_mm.engine.safe_globals'
               for o in objs), objs
    # `builtins.getattr` is mapped to a function that only resolves the
    # HistoryBuffer statistics, never to the real getattr.
    (fn, name), = [a for a in allowed if isinstance(a, tuple)]
    assert name == 'builtins.getattr' and fn is not getattr


class _Evil:
    """Pickles as getattr(np.ndarray, 'tofile') -- a file-writing method."""

    def __reduce__(self):
        import numpy as np
        return getattr, (np.ndarray, 'tofile')


def test_getattr_is_restricted(tmp_path):
    import pickle
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(path, weights_only=True)
