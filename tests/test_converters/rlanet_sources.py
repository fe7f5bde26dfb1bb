"""Sources in the RLA-Net authors' released layout, shared by the
converter tests (key names and shapes from tests/data, random values)."""
import json
import os.path as osp

import pytest
import torch
from mmpretrain.models import ImageClassifier
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.testing.authors_rlanet import dsRLA_MobileNetV2, rla_resnet

from conftest import REPO_ROOT as _ROOT

# Key names and shapes of the authors' released checkpoints, vendored here so
# that the tests need nothing outside the repo.
KEYS_JSON = osp.join(_ROOT, 'tests', 'data',
                     'official_rlanet_state_dict_keys.json')
# Logit / feature comparisons run in float64 (see the first one below).
F64 = dict(rtol=1e-9, atol=1e-10)

# name in the JSON -> (the authors' network, the classifier the issue names)
RELEASED = {
    'rla_resnet50': (lambda: rla_resnet(50), dict(type='RLAResNet', depth=50)),
    'rla_resnet50_eca': (lambda: rla_resnet(50, eca=True),
                         dict(type='RLAResNet', depth=50,
                              eca_kernel_sizes=(5, 5, 5, 7))),
    'rla_resnet101': (lambda: rla_resnet(101),
                      dict(type='RLAResNet', depth=101)),
    'rla_resnet101_eca': (lambda: rla_resnet(101, eca=True),
                          dict(type='RLAResNet', depth=101,
                               eca_kernel_sizes=(5, 5, 5, 7))),
    'dsrla_mobilenetv2_k32': (lambda: dsRLA_MobileNetV2(),
                              dict(type='RLAMobileNetV2')),
    'dsrla_mobilenetv2_k32_eca': (lambda: dsRLA_MobileNetV2(ECA=True),
                                  dict(type='RLAMobileNetV2', with_eca=True)),
}


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build mmpretrain parts in mmpretrain's scope even when an earlier test
    left mmengine's global default scope at 'mmdet'."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def released_keys():
    if not osp.isfile(KEYS_JSON):
        pytest.skip(f'{KEYS_JSON} not found')
    with open(KEYS_JSON) as f:
        return json.load(f)


def issue_classifier(backbone: dict) -> ImageClassifier:
    """The classifier the issue promises the converted file loads into."""
    resnet = backbone['type'] == 'RLAResNet'
    return ImageClassifier(
        backbone=dict(backbone, out_indices=(3, ) if resnet else (7, ),
                      concat_hidden=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000,
                  in_channels=2080 if resnet else 1280))


def random_state(shapes: dict, seed=0) -> dict:
    """Random tensors with the given shapes, valid BN statistics."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            sd[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith('running_var'):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.1
    # The authors' MobileNetV2 shares one recurrent conv: identical copies.
    dsconvs = sorted(k for k in sd if k.startswith('recurrent_dsconvs.'))
    for key in dsconvs[1:]:
        sd[key] = sd[dsconvs[0]]
    return sd


def save_released(path, state_dict, arch='rla_resnet50'):
    """Write a checkpoint as the authors released them."""
    torch.save(
        dict(
            state_dict={f'module.{k}': v for k, v in state_dict.items()},
            epoch=120,
            arch=arch,
            best_acc1=torch.tensor(77.17),
            optimizer=dict(state={}, param_groups=[dict(lr=0.0)])), path)
    return str(path)


def randomize(model, seed=0):
    """Random BN affines and BN statistics of real activations (so eval-mode
    outputs stay well scaled at any depth) for a reference network."""
    torch.manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for m in norms:
        torch.nn.init.uniform_(m.weight, 0.5, 1.5)
        torch.nn.init.normal_(m.bias, 0, 0.1)
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration pass
    with torch.no_grad():
        model.train()(torch.rand(4, 3, 64, 64))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)
