"""tools/model_converters/rlanet2rla_mm.py: what the converter refuses
(corrupted or foreign sources, a DST that would destroy SRC or cannot be
written), always before anything is written, and its CLI's one-line errors.
"""
import importlib.util
import os
import os.path as osp
import pickle
import stat

import pytest
import torch

from rla_mm.converters import convert_rlanet_checkpoint

from conftest import REPO_ROOT as _ROOT
from rlanet_sources import (issue_classifier, load,  # noqa: F401
                            mmpretrain_scope, random_state, released_keys,
                            save_released)


# ------------------------------------------------------ errors
@pytest.fixture
def good_source(released_keys, tmp_path):
    return random_state(released_keys['rla_resnet50'])


def _assert_nothing_written(tmp_path, dst):
    assert not osp.exists(dst)
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.part')]


@pytest.mark.parametrize('corrupt,exc,words', [
    (lambda sd: sd.update({'foo.weight': torch.zeros(1)}), KeyError,
     ["'foo.weight'"]),
    (lambda sd: sd.pop('stage_bns.2.3.weight'), KeyError,
     ['backbone.layer3.rla.norms.3.weight']),
    (lambda sd: sd.update({'conv_outs.1.weight': torch.zeros(32, 500, 1, 1)}),
     ValueError, ["'conv_outs.1.weight'", '(32, 500, 1, 1)',
                  '(32, 512, 1, 1)']),
    (lambda sd: sd.update({'fc.weight': torch.zeros(1000, 2048)}),
     ValueError, ["'fc.weight'"]),
    (lambda sd: [sd.pop(k) for k in list(sd) if k.startswith('stages.3.2.')],
     KeyError, ['(3, 4, 6, 2)']),
    (lambda sd: [sd.pop(k) for k in list(sd) if k.startswith('recurrent')],
     KeyError, ['recurrent_convs.0.weight']),
])
def test_corrupted_state_dicts_name_the_key(good_source, tmp_path, corrupt,
                                            exc, words):
    corrupt(good_source)
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    dst = str(tmp_path / 'dst.pth')
    with pytest.raises(exc) as info:
        convert_rlanet_checkpoint(src, dst)
    for word in words:
        assert word in str(info.value)
    _assert_nothing_written(tmp_path, dst)


def test_existing_dst_untouched_on_error(good_source, tmp_path):
    good_source['conv_outs.0.weight'] = torch.zeros(3)
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'previous')
    with pytest.raises(ValueError):
        convert_rlanet_checkpoint(src, str(dst))
    assert dst.read_bytes() == b'previous'


def test_mixed_module_prefix(good_source, tmp_path):
    path = tmp_path / 'src.pth.tar'
    sd = {f'module.{k}': v for k, v in good_source.items()}
    sd['bn2.weight'] = sd.pop('module.bn2.weight')
    torch.save(dict(state_dict=sd), path)
    with pytest.raises(KeyError, match="'bn2.weight'"):
        convert_rlanet_checkpoint(str(path), str(tmp_path / 'dst.pth'))


def test_differing_recurrent_copies_refused(released_keys, tmp_path):
    sd = random_state(released_keys['dsrla_mobilenetv2_k32'])
    sd['recurrent_dsconvs.3.weight'] = sd['recurrent_dsconvs.3.weight'] + 1
    src = save_released(tmp_path / 'src.pth.tar', sd)
    with pytest.raises(ValueError, match='recurrent_dsconvs.3.weight'):
        convert_rlanet_checkpoint(src, str(tmp_path / 'dst.pth'))


class _Evil:
    """Unpickling this runs ``open(MARKER, 'w')``."""
    marker = ''

    def __reduce__(self):
        return (open, (self.marker, 'w'))


@pytest.mark.parametrize('kind', ['missing', 'text', 'truncated', 'pickle',
                                  'list', 'no_tensors'])
def test_not_a_checkpoint_names_the_path(good_source, tmp_path, kind):
    src = tmp_path / 'src.pth.tar'
    marker = tmp_path / 'pwned'
    if kind == 'text':
        src.write_text('not a checkpoint')
    elif kind == 'truncated':
        save_released(src, good_source)
        src.write_bytes(src.read_bytes()[:1000])
    elif kind == 'pickle':
        _Evil.marker = str(marker)
        with open(src, 'wb') as f:
            pickle.dump(dict(state_dict=_Evil()), f)
    elif kind == 'list':
        torch.save([1, 2], src)
    elif kind == 'no_tensors':
        torch.save(dict(state_dict={'conv1.weight': 3}), src)
    dst = str(tmp_path / 'dst.pth')
    exc = FileNotFoundError if kind == 'missing' else ValueError
    with pytest.raises(exc, match=str(src)):
        convert_rlanet_checkpoint(str(src), dst)
    assert not marker.exists()  # weights_only: nothing was executed
    _assert_nothing_written(tmp_path, dst)


def test_model_type_checked(good_source, tmp_path):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    with pytest.raises(ValueError, match='model_type'):
        convert_rlanet_checkpoint(src, None, model_type='resnet')
    # forcing the wrong family fails on the first key it does not know
    with pytest.raises(KeyError, match='dsRLA-MobileNetV2'):
        convert_rlanet_checkpoint(src, None, model_type='rla_mobilenet_v2')


# ------------------------------------------------------ the CLI
def _cli():
    path = osp.join(_ROOT, 'tools', 'model_converters', 'rlanet2rla_mm.py')
    spec = importlib.util.spec_from_file_location('rlanet2rla_mm', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli(good_source, tmp_path, capsys):
    cli = _cli()
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    dst = str(tmp_path / 'dst.pth')
    assert cli.main([src, dst, '--model-type', 'rla_resnet']) == 0
    out = capsys.readouterr().out
    assert "'depth': 50" in out and dst in out
    model = issue_classifier(dict(type='RLAResNet', depth=50))
    model.load_state_dict(load(dst)['state_dict'], strict=True)
    missing = str(tmp_path / 'nope.pth.tar')
    assert cli.main([missing, str(tmp_path / 'x.pth')]) == 1
    assert missing in capsys.readouterr().err


# ------------------------------------------------------ the destination
def _run_cli(argv, capsys):
    code = _cli().main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(code, err):
    assert code == 1 and err.startswith('error: ')
    assert err.count('\n') == 1, err
    return err


@pytest.mark.parametrize('how', ['same path', 'other spelling', 'hard link',
                                 'symlink'])
def test_dst_is_src_refused_unless_force(good_source, tmp_path, capsys, how):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    original = open(src, 'rb').read()
    dst = {
        'same path': src,
        'other spelling': str(tmp_path / '.' / 'src.pth.tar'),
        'hard link': str(tmp_path / 'hard.pth'),
        'symlink': str(tmp_path / 'sym.pth'),
    }[how]
    if how == 'hard link':
        os.link(src, dst)
    elif how == 'symlink':
        os.symlink(src, dst)
    code, _, err = _run_cli([src, dst], capsys)
    err = _one_line_error(code, err)
    assert f'DST {dst} is SRC {src}' in err and '--force' in err
    assert open(src, 'rb').read() == original
    assert torch.load(src, weights_only=True)['epoch'] == 120
    with pytest.raises(ValueError, match='--force'):
        convert_rlanet_checkpoint(src, dst)
    # asked for: the original is replaced by the converted file
    code, out, _ = _run_cli([src, dst, '--force'], capsys)
    assert code == 0 and 'converted' in out
    assert 'epoch' not in torch.load(dst, weights_only=True)


def test_dst_directory_is_one_line(good_source, tmp_path, capsys):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    code, _, err = _run_cli([src, str(out_dir)], capsys)
    err = _one_line_error(code, err)
    assert f'DST {out_dir} is a directory' in err
    assert str(out_dir / 'src.pth') in err  # the file name to give
    assert os.listdir(out_dir) == []


def test_dst_parent_is_a_file(good_source, tmp_path, capsys):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    (tmp_path / 'notes').write_text('x')
    dst = str(tmp_path / 'notes' / 'sub' / 'dst.pth')
    code, _, err = _run_cli([src, dst], capsys)
    err = _one_line_error(code, err)
    assert f'{tmp_path / "notes"} is a file' in err and dst in err


def test_missing_parent_is_created(good_source, tmp_path, capsys):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    dst = tmp_path / 'checkpoints' / 'new' / 'rla_resnet50_in1k.pth'
    code, _, _ = _run_cli([src, str(dst)], capsys)
    assert code == 0 and dst.is_file()


def test_read_only_directory_is_one_line(good_source, tmp_path, capsys,
                                         monkeypatch):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    ro = tmp_path / 'ro'
    ro.mkdir()
    os.chmod(ro, 0o555)
    dst = str(ro / 'dst.pth')
    if os.access(ro, os.W_OK):  # root ignores the mode bits: ask as a user
        monkeypatch.setattr(
            os, 'access',
            lambda p, mode: not (os.fspath(p) == str(ro) and mode & os.W_OK))
    code, _, err = _run_cli([src, dst], capsys)
    err = _one_line_error(code, err)
    assert f'directory {ro} is not writable' in err and dst in err
    assert not os.path.exists(dst)


def test_write_error_is_one_line(good_source, tmp_path, capsys, monkeypatch):
    """An OSError while writing (disk full, permissions) is one line too."""
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    dst = str(tmp_path / 'dst.pth')

    def full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full)
    code, _, err = _run_cli([src, dst], capsys)
    err = _one_line_error(code, err)
    assert 'No space left on device' in err
    assert not os.path.exists(dst) and not [
        f for f in os.listdir(tmp_path) if f.endswith('.part')]


def test_output_honours_the_umask(good_source, tmp_path):
    src = save_released(tmp_path / 'src.pth.tar', good_source)
    saved = os.umask(0o027)
    try:
        convert_rlanet_checkpoint(src, str(tmp_path / 'dst.pth'))
    finally:
        os.umask(saved)
    assert stat.S_IMODE(os.stat(tmp_path / 'dst.pth').st_mode) == 0o640
