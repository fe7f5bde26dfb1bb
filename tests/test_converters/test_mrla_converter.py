"""The MRLA authors' MRLA-light checkpoints -> rla_mm (MRLA paper, ICLR 2023).

Sources are saved from ``rla_mm.testing.authors_mrla`` (a plain port of the
authors' network under their names) with random weights, in the two formats
their code writes: the ImageNet ``train.py`` file (``module.`` keys, epoch,
best_acc1, optimizer) and an MMDetection 2.x detector. Converted weights must
give the port's logits and stage features in float64.
"""
import copy
import importlib.util
import os
import os.path as osp

import pytest
import torch
from mmpretrain.models import ImageClassifier
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.converters import FAMILIES, convert_checkpoint, detect_family
from rla_mm.converters.mrla import (authors_to_rla_mm_backbone,
                                    convert_mrla_checkpoint,
                                    is_mrla_checkpoint)
from rla_mm.models import MRLAResNet
from rla_mm.testing.authors_mrla import resnet50_mrlal

from conftest import REPO_ROOT

F64 = dict(rtol=1e-9, atol=1e-10)


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def authors_net():
    """The authors' ResNet-50 with random weights and BN statistics of real
    activations (so that eval-mode outputs stay well scaled)."""
    torch.manual_seed(0)
    net = resnet50_mrlal()
    norms = [m for m in net.modules() if isinstance(m, _BatchNorm)]
    for m in norms:
        torch.nn.init.uniform_(m.weight, 0.5, 1.5)
        torch.nn.init.normal_(m.bias, 0, 0.1)
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration pass
    with torch.no_grad():
        net.train()(torch.rand(4, 3, 64, 64))
    return net.eval()


def _save_imagenet(path, state_dict):
    """As the authors' train.py saves it (DataParallel-wrapped model)."""
    torch.save(dict(epoch=100, arch='resnet50_mrlal',
                    state_dict={f'module.{k}': v
                                for k, v in state_dict.items()},
                    best_acc1=torch.tensor(77.75),
                    optimizer=dict(state={}, param_groups=[dict(lr=0.0)])),
               path)
    return str(path)


def _save_mmdet2(path, net, extra):
    sd = {f'backbone.{k}': v for k, v in net.state_dict().items()
          if not k.startswith('fc.')}
    sd.update(extra)
    torch.save(dict(state_dict=sd,
                    meta=dict(mmdet_version='2.28.2', CLASSES=('a', 'b'),
                              epoch=12),
                    optimizer=dict(state={}, param_groups=[])), path)
    return str(path)


def _f64(net):
    """A float64 copy (the shared fixture stays float32)."""
    return copy.deepcopy(net).double()


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _cli():
    path = osp.join(REPO_ROOT, 'tools', 'model_converters',
                    'rlanet2rla_mm.py')
    spec = importlib.util.spec_from_file_location('rlanet2rla_mm', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------- ImageNet
def test_imagenet_file_gives_the_authors_logits(authors_net, tmp_path,
                                                capsys):
    src = _save_imagenet(tmp_path / 'model_best.pth.tar',
                         authors_net.state_dict())
    dst = str(tmp_path / 'out' / 'mrla_r50.pth')
    assert _cli().main([src, dst]) == 0  # the RLA-Net CLI dispatches
    assert "'MRLAResNet'" in capsys.readouterr().out
    ckpt = _load(dst)
    meta = ckpt['meta']
    assert meta['source_format'] == 'mrla_imagenet'
    assert meta['backbone'] == dict(type='MRLAResNet', depth=50,
                                    out_indices=[3])
    assert (meta['epoch'], meta['arch']) == (100, 'resnet50_mrlal')
    assert meta['best_acc1'] == pytest.approx(77.75)
    model = ImageClassifier(backbone=meta['backbone'],
                            neck=dict(type='GlobalAveragePooling'),
                            head=meta['head'])
    model.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.rand(2, 3, 67, 45, dtype=torch.float64)
    theirs = _f64(authors_net)
    with torch.no_grad():
        want = theirs(x)
        got = model.double().eval()(x, mode='tensor')
        want_last = theirs.features(x)[-1]
        (got_last, ) = model.backbone(x)
    assert want.abs().max() > 1e-2
    torch.testing.assert_close(got, want, **F64)
    torch.testing.assert_close(got_last, want_last, **F64)


def test_keys_land_where_they_must(authors_net):
    sd = authors_net.state_dict()
    ours = authors_to_rla_mm_backbone(
        {k: v for k, v in sd.items() if not k.startswith('fc.')})
    same = {
        'layer3.5.mrla.mrla.Wq.weight': 'layer3.5.mrla.query_conv.weight',
        'layer1.0.mrla.mrla.Wk.weight': 'layer1.0.mrla.key_conv.weight',
        'layer4.2.mrla.mrla.Wv.weight': 'layer4.2.mrla.value_conv.weight',
        'layer2.3.mrla.lambda_t': 'layer2.3.mrla.lambda_t',
        'layer2.0.bn_mrla.running_var': 'layer2.0.mrla.bn.running_var',
        'layer2.0.downsample.1.weight': 'layer2.0.downsample.1.weight',
        'layer1.2.bn3.bias': 'layer1.2.bn3.bias',
        'bn1.running_mean': 'bn1.running_mean',
    }
    for theirs, mine in same.items():
        assert ours[mine] is sd[theirs], theirs
    assert sd['layer4.0.mrla.mrla.Wq.weight'].shape == (1, 1, 7)


def test_imagenet_weights_into_a_detection_backbone(authors_net, tmp_path):
    """init_cfg=Pretrained(prefix='backbone.') gives the authors' stage
    features to the detection backbone of the configs."""
    src = _save_imagenet(tmp_path / 'src.pth.tar', authors_net.state_dict())
    dst = str(tmp_path / 'dst.pth')
    convert_checkpoint(src, dst)
    backbone = MRLAResNet(
        50, frozen_stages=1, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.'))
    backbone.init_weights()
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for g, w in zip(backbone.double().eval()(x),
                        _f64(authors_net).features(x)):
            torch.testing.assert_close(g, w, **F64)


# ------------------------------------------------------------ MMDetection
def test_mmdet2_detector_file(authors_net, tmp_path):
    neck = {'neck.lateral_convs.0.conv.weight': torch.rand(256, 256, 1, 1)}
    src = _save_mmdet2(tmp_path / 'det.pth', authors_net, neck)
    dst = str(tmp_path / 'det_mm.pth')
    ckpt = convert_checkpoint(src, dst)
    assert _load(dst)['meta'] == ckpt['meta']
    meta = ckpt['meta']
    assert meta['source_format'] == 'mmdet2_detector'
    assert meta['dataset_meta'] == dict(classes=['a', 'b'])
    sd = ckpt['state_dict']
    assert torch.equal(sd["neck.lateral_convs.0.conv.weight"],
                       neck["neck.lateral_convs.0.conv.weight"])
    kwargs = {k: v for k, v in meta['backbone'].items() if k != 'type'}
    backbone = MRLAResNet(**kwargs).double().eval()
    backbone.load_state_dict(
        {k[9:]: v for k, v in sd.items() if k.startswith('backbone.')},
        strict=True)
    x = torch.rand(1, 3, 61, 70, dtype=torch.float64)
    with torch.no_grad():
        want = _f64(authors_net).features(x)
        got = backbone(x)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **F64)


@pytest.mark.slow
def test_mmdet2_detector_checked_against_the_config(authors_net, tmp_path):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    config = osp.join(REPO_ROOT, 'configs', 'mrla',
                      'faster-rcnn_mrla-light-r50_fpn_1x_coco.py')
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    rest = {k: v for k, v in detector.state_dict().items()
            if not k.startswith('backbone.')}
    src = _save_mmdet2(tmp_path / 'det.pth', authors_net, rest)
    dst = str(tmp_path / 'det_mm.pth')
    convert_mrla_checkpoint(src, dst, config=config)
    detector.load_state_dict(_load(dst)['state_dict'], strict=True)
    bad = _save_mmdet2(tmp_path / 'bad.pth', authors_net,
                       dict(rest, **{'roi_head.x': torch.zeros(1)}))
    with pytest.raises(KeyError, match='roi_head.x'):
        convert_mrla_checkpoint(bad, str(tmp_path / 'bad_mm.pth'),
                                config=config)
    assert not osp.exists(tmp_path / 'bad_mm.pth')


# -------------------------------------------------------------- detection
def test_family_detection(authors_net, tmp_path):
    sd = authors_net.state_dict()
    assert 'mrla' in FAMILIES
    assert is_mrla_checkpoint(sd)
    assert detect_family(sd).name == 'mrla'
    assert detect_family({f'backbone.{k}': v for k, v in sd.items()}).name \
        == 'mrla'
    # rla_mm's own MRLA files are not the authors'
    ours = MRLAResNet(50).state_dict()
    assert not is_mrla_checkpoint(ours) and detect_family(ours) is None
    # the RLA-Net family does not claim MRLA files, nor MRLA theirs
    assert not FAMILIES['rlanet'].detect(sd)
    assert not is_mrla_checkpoint({'conv_outs.0.weight': torch.zeros(1),
                                   'stages.0.0.conv1.weight': torch.zeros(1)})


# ----------------------------------------------------------------- errors
def _assert_nothing_written(tmp_path, dst):
    assert not osp.exists(dst)
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.part')]


@pytest.mark.parametrize('corrupt,exc,words', [
    (lambda sd: sd.update({'layer1.0.mrla.mrla.Wz.weight': torch.zeros(1)}),
     KeyError, ["'layer1.0.mrla.mrla.Wz.weight'"]),
    (lambda sd: sd.pop('layer3.2.bn_mrla.weight'), KeyError,
     ['backbone.layer3.2.mrla.bn.weight']),
    (lambda sd: sd.update({'layer4.0.mrla.mrla.Wq.weight':
                           torch.zeros(1, 1, 5)}), ValueError,
     ["'layer4.0.mrla.mrla.Wq.weight'", '(1, 1, 5)', '(1, 1, 7)']),
    (lambda sd: sd.update({'fc.weight': torch.zeros(10, 1024)}), ValueError,
     ["'fc.weight'"]),
    (lambda sd: sd.pop('fc.bias'), KeyError, ['fc.bias']),
    (lambda sd: [sd.pop(k) for k in list(sd) if k.startswith('layer3.5.')],
     KeyError, ['(3, 4, 5, 3)']),
])
def test_bad_files_are_refused_by_name(authors_net, tmp_path, corrupt, exc,
                                       words):
    sd = dict(authors_net.state_dict())
    corrupt(sd)
    src = _save_imagenet(tmp_path / 'src.pth.tar', sd)
    dst = str(tmp_path / 'dst.pth')
    with pytest.raises(exc) as info:
        convert_mrla_checkpoint(src, dst)
    for word in words:
        assert word in str(info.value)
    _assert_nothing_written(tmp_path, dst)


def test_model_type_checked(authors_net, tmp_path):
    src = _save_imagenet(tmp_path / 'src.pth.tar', authors_net.state_dict())
    with pytest.raises(ValueError, match='model_type'):
        convert_mrla_checkpoint(src, None, model_type='rla_resnet')
