"""Checkpoints that do not fit the model are refused before mmengine's
partial load: tools/test.py's checkpoint and init_cfg Pretrained files."""
import json
import os.path as osp

import pytest
import torch
import torchvision
from mmpretrain.registry import MODELS

import rla_mm  # noqa: F401
from rla_mm.engine.checkpoint_check import (check_checkpoint_fits,
                                            check_pretrained,
                                            compare_state_dicts)
from rla_mm.engine.errors import UserInputError

from conftest import REPO_ROOT

KEYS_JSON = osp.join(REPO_ROOT, 'tests', 'data',
                     'official_rlanet_state_dict_keys.json')


def _classifier(init_cfg=None, meta=True, in_channels=2048, **backbone):
    """mmpretrain classifier with an RLA-ResNet backbone; on the meta device
    (names and shapes only) unless ``meta=False``."""
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='RLAResNet', depth=50, init_cfg=init_cfg,
                      **backbone),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10,
                  in_channels=in_channels))
    if meta:
        with torch.device('meta'):
            return MODELS.build(cfg)
    return MODELS.build(cfg)


def _save_shapes(path, shapes, prefix='', wrap=True):
    """A checkpoint with these keys and shapes (values do not matter to the
    check: uint8 zeros keep the files small)."""
    sd = {prefix + k: torch.zeros(s, dtype=torch.uint8)
          for k, s in shapes.items()}
    torch.save(dict(state_dict=sd) if wrap else sd, path)
    return str(path)


def _backbone_shapes(**kwargs):
    with torch.device('meta'):
        backbone = MODELS.build(dict(type='RLAResNet', depth=50, **kwargs))
    return {k: tuple(v.shape) for k, v in backbone.state_dict().items()}


def _refusal(model):
    with pytest.raises(UserInputError) as info:
        check_pretrained(model)
    msg = str(info.value)
    assert '\n' not in msg
    return msg


def test_summary_names_each_kind_of_mismatch():
    fit = compare_state_dicts(
        {'a': (2, ), 'b': (3, ), 'c': (4, 4)},
        {'a': torch.zeros(2), 'c': torch.zeros(4, 5), 'z': torch.zeros(1)})
    assert fit.loaded == ['a'] and not fit.exact
    assert fit.summary() == ("1 missing ('b'), 1 unexpected ('z'), 1 "
                             "mis-shaped ('c': (4, 5) in the file, (4, 4) "
                             'in the model)')


def test_authors_unconverted_file_names_the_converter(tmp_path):
    with open(KEYS_JSON) as f:
        released = json.load(f)['rla_resnet50']
    # as released: DataParallel's `module.` keys, plus training fields
    src = tmp_path / 'rla_resnet50.pth.tar'
    _save_shapes(src, released, prefix='module.')
    for prefix in (None, 'backbone.'):
        msg = _refusal(_classifier(dict(type='Pretrained', checkpoint=str(src),
                                        prefix=prefix)))
        assert f'model.backbone.init_cfg.checkpoint={src}' in msg
        assert ('python tools/model_converters/rlanet2rla_mm.py '
                f'{src} DST') in msg
        assert "RLA-Net authors'" in msg


def test_torchvision_resnet_refused(tmp_path):
    with torch.device('meta'):
        tv = torchvision.models.resnet50()
    src = _save_shapes(tmp_path / 'resnet50.pth',
                       {k: v.shape for k, v in tv.state_dict().items()},
                       wrap=False)
    msg = _refusal(_classifier(dict(type='Pretrained', checkpoint=src)))
    assert 'would load only' in msg and 'of the 4' in msg  # of the 4xx
    assert 'mis-shaped' in msg and 'init_cfg=None' in msg
    assert '--allow-partial-load' in msg


@pytest.mark.parametrize('prefix', [None, 'head.'])
def test_wrong_prefix_names_the_right_one(tmp_path, prefix):
    """A converted classifier file has `backbone.` keys."""
    src = _save_shapes(tmp_path / 'converted.pth', _backbone_shapes(),
                       prefix='backbone.')
    msg = _refusal(_classifier(dict(type='Pretrained', checkpoint=src,
                                    prefix=prefix)))
    assert "model.backbone.init_cfg.prefix='backbone.'" in msg


@pytest.mark.parametrize('prefix', ['backbone.', 'backbone'])
def test_right_file_and_partial_files_pass(tmp_path, prefix):
    shapes = _backbone_shapes()
    src = _save_shapes(tmp_path / 'converted.pth', shapes, prefix='backbone.')
    check_pretrained(_classifier(dict(type='Pretrained', checkpoint=src,
                                      prefix=prefix)))
    # most tensors there (e.g. DCN offsets or plugins missing): mmengine's
    # partial load with its warning, as in mmdet
    keys = list(shapes)
    partial = {k: shapes[k] for k in keys[:int(0.7 * len(keys))]}
    src = _save_shapes(tmp_path / 'partial.pth', partial, prefix='backbone.')
    check_pretrained(_classifier(dict(type='Pretrained', checkpoint=src,
                                      prefix=prefix)))


def test_allow_partial(tmp_path):
    src = _save_shapes(tmp_path / 'x.pth', {'conv1.weight': (64, 3, 7, 7)})
    model = _classifier(dict(type='Pretrained', checkpoint=src))
    with pytest.raises(UserInputError):
        check_pretrained(model)
    check_pretrained(model, allow_partial=True)


def test_unreadable_pretrained_file_is_one_line(tmp_path):
    src = tmp_path / 'broken.pth'
    src.write_bytes(b'PK\x03\x04 not really')
    msg = _refusal(_classifier(dict(type='Pretrained', checkpoint=str(src))))
    assert str(src) in msg and 'not a complete checkpoint' in msg


def test_checkpoint_of_another_architecture(tmp_path):
    """tools/test.py's check, on real (CPU) models."""
    tiny = dict(base_channels=8, rla_channel=4)
    model = _classifier(meta=False, in_channels=256, **tiny)
    own = tmp_path / 'own.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), own)
    assert check_checkpoint_fits(model, str(own)).exact
    other = _classifier(meta=False, in_channels=256, base_channels=8,
                        rla_channel=8)
    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict=other.state_dict()), path)
    with pytest.raises(UserInputError) as info:
        check_checkpoint_fits(model, str(path))
    msg = str(info.value)
    assert str(path) in msg and 'mis-shaped' in msg and '\n' not in msg
    assert '--allow-partial-load' in msg
    fit = check_checkpoint_fits(model, str(path), allow_partial=True)
    assert 0 < len(fit.loaded) < fit.total
