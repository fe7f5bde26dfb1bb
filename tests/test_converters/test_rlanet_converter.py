"""tools/model_converters/rlanet2rla_mm.py: the authors' checkpoints -> rla_mm.

Sources are built with exactly the keys and shapes of the released ImageNet
checkpoints (tests/data/official_rlanet_state_dict_keys.json), with
random values, the DataParallel ``module.`` prefix and the extra fields; the
outputs are compared with ``rla_mm.testing.authors_rlanet``, a plain port
of the authors' networks under their own parameter names. Refusals and the
CLI: test_rlanet_converter_errors.py.
"""
import os.path as osp

import pytest
import torch
from mmpretrain.models import ImageClassifier

from rla_mm.converters import convert_rlanet_checkpoint
from rla_mm.models import RLAMobileNetV2, RLAResNet
from rla_mm.testing.authors_rlanet import dsRLA_MobileNetV2, rla_resnet

from rlanet_sources import (F64, RELEASED, issue_classifier, load,  # noqa
                            mmpretrain_scope, random_state, randomize,
                            released_keys, save_released)


# ------------------------------------------------------ the released layout
@pytest.mark.parametrize('name', list(RELEASED))
def test_reference_port_has_the_released_layout(released_keys, name):
    """The plain port has the authors' names and shapes, key for key."""
    got = [(k, list(v.shape))
           for k, v in RELEASED[name][0]().state_dict().items()]
    assert got == list(released_keys[name].items())


@pytest.mark.parametrize('name', list(RELEASED))
def test_released_layout_converts_and_loads_strictly(released_keys, name,
                                                     tmp_path):
    src = save_released(tmp_path / f'{name}.pth.tar',
                         random_state(released_keys[name]), arch=name)
    dst = str(tmp_path / 'out.pth')
    convert_rlanet_checkpoint(src, dst)
    ckpt = load(dst)
    assert set(ckpt) == {'state_dict', 'meta'}
    model = issue_classifier(RELEASED[name][1])
    model.load_state_dict(ckpt['state_dict'], strict=True)
    meta = ckpt['meta']
    assert meta['arch'] == name and meta['epoch'] == 120
    assert meta['best_acc1'] == pytest.approx(77.17)
    if 'resnet' in name:
        assert meta['backbone']['rla_source'] == 'output'
    # the metadata alone rebuilds the model
    rebuilt = ImageClassifier(
        backbone=meta['backbone'], neck=dict(type='GlobalAveragePooling'),
        head=meta['head'])
    rebuilt.load_state_dict(ckpt['state_dict'], strict=True)
    with torch.no_grad():
        logits = model.eval()(torch.rand(1, 3, 32, 32), mode='tensor')
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_keys_land_where_they_must(released_keys, tmp_path):
    src_sd = random_state(released_keys['rla_resnet50_eca'])
    src = save_released(tmp_path / 'r50.pth.tar', src_sd)
    sd = convert_rlanet_checkpoint(src, None)['state_dict']
    same = {
        'stages.2.5.conv1.weight': 'backbone.layer3.5.conv1.weight',
        'stages.0.0.downsample.1.running_var':
        'backbone.layer1.0.downsample.1.running_var',
        'stages.3.2.eca.conv.weight': 'backbone.layer4.2.eca.conv.weight',
        'conv_outs.1.weight': 'backbone.layer2.rla.conv_out.weight',
        'recurrent_convs.3.weight':
        'backbone.layer4.rla.recurrent_conv.weight',
        'stage_bns.1.3.running_mean':
        'backbone.layer2.rla.norms.3.running_mean',
        'bn1.weight': 'backbone.bn1.weight',
        'bn2.bias': 'backbone.hidden_norm.bias',
        'fc.weight': 'head.fc.weight',
    }
    for theirs, ours in same.items():
        assert torch.equal(sd[ours], src_sd[theirs]), (theirs, ours)
    # conv1 of a block reads cat(x, h) in both layouts: x channels first
    w = sd['backbone.layer2.1.conv1.weight']
    assert w.shape[1] == 512 + 32
    assert torch.equal(w[:, 512:], src_sd['stages.1.1.conv1.weight'][:, 512:])


def test_mobilenet_keys_land_where_they_must(released_keys, tmp_path):
    src_sd = random_state(released_keys['dsrla_mobilenetv2_k32_eca'])
    src = save_released(tmp_path / 'mbv2.pth.tar', src_sd)
    sd = convert_rlanet_checkpoint(src, None)['state_dict']
    same = {
        'conv1.0.weight': 'backbone.conv1.conv.weight',
        'stages.0.0.conv.0.0.weight':
        'backbone.layer1.0.depthwise_conv.conv.weight',
        'stages.4.1.conv1x1.0.weight': 'backbone.layer5.1.expand_conv.conv.'
        'weight',
        'stages.4.1.conv.0.1.running_var':
        'backbone.layer5.1.depthwise_conv.bn.running_var',
        'stages.4.1.conv.1.weight':
        'backbone.layer5.1.linear_conv.conv.weight',
        'stages.5.2.conv.3.conv.weight': 'backbone.layer6.2.eca.conv.weight',
        'conv_outs.6.weight': 'backbone.layer7.rla.conv_out.weight',
        'stage_bns.3.3.bias': 'backbone.layer4.rla.norms.3.bias',
        'conv2.0.weight': 'backbone.conv2.conv.weight',
        'bn2.weight': 'backbone.hidden_norm.weight',
        'classifier.1.bias': 'head.fc.bias',
    }
    for theirs, ours in same.items():
        assert torch.equal(sd[ours], src_sd[theirs]), (theirs, ours)
    # the five stages' recurrent convs are all the authors' one conv
    for s in range(5):
        assert torch.equal(sd[f'backbone.recurrent_convs.{s}.weight'],
                           src_sd['recurrent_dsconvs.0.weight'])
    # h enters after the expansion: depthwise conv on 576 + 32 channels,
    # whose last 32 channels are h's
    assert sd['backbone.layer5.1.depthwise_conv.conv.weight'].shape[0] == 608
    assert sd['backbone.conv2.conv.weight'].shape[1] == 320 + 32


# ------------------------------------------------------ same outputs
@pytest.mark.parametrize('name,size', [
    ('rla_resnet50', 64),
    ('rla_resnet50_eca', 64),
    ('dsrla_mobilenetv2_k32', 64),
    ('dsrla_mobilenetv2_k32_eca', 96),
])
def test_same_logits_as_the_authors_network(name, size, tmp_path):
    ref = randomize(RELEASED[name][0]())
    src = save_released(tmp_path / 'src.pth.tar', ref.state_dict())
    dst = str(tmp_path / 'dst.pth')
    convert_rlanet_checkpoint(src, dst)
    model = issue_classifier(RELEASED[name][1]).eval()
    model.load_state_dict(load(dst)['state_dict'], strict=True)
    # float64: the random-BN networks amplify float32 rounding beyond any
    # useful tolerance, and ours may sum conv1's x and h parts in another
    # order (split_conv1) than the authors' concatenation
    x = torch.rand(2, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        want = ref.double()(x)
        got = model.double()(x, mode='tensor')
    assert want.abs().max() > 1e-2  # a real signal, not all zeros
    torch.testing.assert_close(got, want, **F64)


@pytest.mark.slow
def test_same_logits_rla_resnet152(tmp_path):
    ref = randomize(rla_resnet(152))
    src = save_released(tmp_path / 'src.pth.tar', ref.state_dict())
    dst = str(tmp_path / 'dst.pth')
    meta = convert_rlanet_checkpoint(src, dst)['meta']
    assert meta['backbone']['depth'] == 152
    model = issue_classifier(dict(type='RLAResNet', depth=152)).eval()
    model.load_state_dict(load(dst)['state_dict'], strict=True)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.double()(x, mode='tensor'),
                                   ref.double()(x), **F64)


def test_mobilenet_y_reading_matters(tmp_path):
    """The two readings of the authors' MobileNetV2 block give different
    logits, so the equality above really pins ``rla_source`` down."""
    ref = randomize(dsRLA_MobileNetV2(y_is_output=True))
    src = save_released(tmp_path / 'src.pth.tar', ref.state_dict())
    sd = convert_rlanet_checkpoint(src, None)['state_dict']
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    outs = {}
    for source in ('residual', 'output'):
        model = issue_classifier(
            dict(type='RLAMobileNetV2', rla_source=source)).eval()
        model.load_state_dict(sd, strict=True)
        with torch.no_grad():
            outs[source] = model.double()(x, mode='tensor')
    with torch.no_grad():
        want = ref.double()(x)
    torch.testing.assert_close(outs['output'], want, **F64)
    assert not torch.allclose(outs['residual'], want, atol=1e-4)


def test_imagenet_weights_into_a_detector_backbone(tmp_path):
    """init_cfg=Pretrained(prefix='backbone.') gives the authors' stage
    features (the detection backbone does not build bn2 / the last norm)."""
    ref = randomize(rla_resnet(50))
    src = save_released(tmp_path / 'src.pth.tar', ref.state_dict())
    dst = str(tmp_path / 'dst.pth')
    convert_rlanet_checkpoint(src, dst)
    backbone = RLAResNet(
        50, out_indices=(0, 1, 2, 3), rla_source='output',
        init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.'))
    backbone.init_weights()
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        want, _, _ = ref.double().features(x)
        got = backbone.double().eval()(x)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **F64)


def _mmdet2_checkpoint(path, ref, extra):
    """An MMDetection 2.x checkpoint: backbone.* without fc/bn2, + extra."""
    sd = {f'backbone.{k}': v for k, v in ref.state_dict().items()
          if not k.startswith(('fc.', 'bn2.', 'classifier.'))}
    sd.update(extra)
    torch.save(
        dict(state_dict=sd,
             meta=dict(mmdet_version='2.25.0', CLASSES=('a', 'b'), epoch=12),
             optimizer=dict(state={}, param_groups=[])), path)
    return str(path)


def test_mmdet2_detector_checkpoint(tmp_path):
    ref = randomize(rla_resnet(50))
    neck = {'neck.lateral_convs.0.conv.weight': torch.rand(256, 256, 1, 1)}
    src = _mmdet2_checkpoint(tmp_path / 'det.pth', ref, neck)
    dst = str(tmp_path / 'det_mm.pth')
    convert_rlanet_checkpoint(src, dst)
    ckpt = load(dst)
    meta = ckpt['meta']
    assert meta['source_format'] == 'mmdet2_detector'
    assert meta['dataset_meta'] == dict(classes=['a', 'b'])
    # the last stage's last h update feeds nothing in a detector
    assert sorted(meta['dropped_keys']) == sorted(
        f'stage_bns.3.2.{n}' for n in ('weight', 'bias', 'running_mean',
                                       'running_var', 'num_batches_tracked'))
    sd = ckpt['state_dict']
    assert torch.equal(sd['neck.lateral_convs.0.conv.weight'],
                       neck['neck.lateral_convs.0.conv.weight'])
    kwargs = {k: v for k, v in meta['backbone'].items() if k != 'type'}
    assert kwargs['concat_hidden'] is False
    backbone = RLAResNet(**kwargs).eval()
    backbone.load_state_dict(
        {k[9:]: v for k, v in sd.items() if k.startswith('backbone.')},
        strict=True)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        want, _, _ = ref.double().features(x)
        got = backbone.double()(x)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **F64)


@pytest.mark.slow
def test_mmdet2_mobilenet_detector_checked_against_config(tmp_path,
                                                          repo_root):
    """--config checks necks and heads too, against an mmdet 3.x model."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    config = osp.join(repo_root,
                      'configs/retinanet_rla_mobilenet_v2_fpn_1x_coco.py')
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    ref = randomize(dsRLA_MobileNetV2())
    rest = {k: v for k, v in detector.state_dict().items()
            if not k.startswith('backbone.')}
    src = _mmdet2_checkpoint(tmp_path / 'det.pth', ref, rest)
    dst = str(tmp_path / 'det_mm.pth')
    convert_rlanet_checkpoint(src, dst, config=config)
    detector.load_state_dict(load(dst)['state_dict'], strict=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want, _, _ = ref.features(x)
        got = detector.backbone.eval()(x)
    for g, w in zip(got, [want[2], want[4], want[6]]):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    # a head the config does not have is an error naming it
    bad = _mmdet2_checkpoint(tmp_path / 'bad.pth', ref,
                             dict(rest, **{'roi_head.x': torch.zeros(1)}))
    with pytest.raises(KeyError, match='roi_head.x'):
        convert_rlanet_checkpoint(bad, str(tmp_path / 'bad_mm.pth'),
                                  config=config)
    assert not osp.exists(tmp_path / 'bad_mm.pth')


def test_mobilenet_detector_mode_backbone_matches_meta(released_keys,
                                                       tmp_path):
    """An ImageNet dsRLA-MobileNetV2 checkpoint loads into the detection
    backbone of configs/retinanet_rla_mobilenet_v2_fpn_1x_coco.py."""
    ref = randomize(dsRLA_MobileNetV2())
    src = save_released(tmp_path / 'src.pth.tar', ref.state_dict())
    dst = str(tmp_path / 'dst.pth')
    convert_rlanet_checkpoint(src, dst)
    backbone = RLAMobileNetV2(
        out_indices=(2, 4, 6),
        init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.'))
    backbone.init_weights()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want, _, _ = ref.features(x)
        got = backbone.eval()(x)
    for g, w in zip(got, [want[2], want[4], want[6]]):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
