"""mmdet's ResNet options on RLAResNet: DCN, plugins, style, invalid
combinations (issue 14 items 7-9), ported from the checks of mmdet's own
``tests/test_models/test_backbones/test_resnet.py`` (there asserts; here
named ValueErrors), plus the ``norm_eval`` default policy."""
import pytest
import torch
from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.models import RLAResNet
from rla_mm.models.layers import RLABasicBlock, RLABottleneck

DCN = dict(type='DCN', deform_groups=1, fallback_on_stride=False)
DCNV2 = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
CONTEXT3 = dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                position='after_conv3')


def _run_block(block, inplanes=64, k=8, size=14):
    x = torch.randn(1, inplanes, size, size)
    out, y = block(x, torch.randn(1, k, size, size))
    return out


def test_basic_block_refuses_dcn_and_plugins():
    with pytest.raises(ValueError, match='dcn'):
        RLABasicBlock(64, 64, dcn=DCN, rla_channel=8)
    for position in ('after_conv2', 'after_conv3'):
        plugins = [dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                        position=position)]
        with pytest.raises(ValueError, match='plugins'):
            RLABasicBlock(64, 64, plugins=plugins, rla_channel=8)


def test_bottleneck_rejects_unknown_style():
    """Issue 14 item 7: 'tensorflow' used to build silently as caffe."""
    with pytest.raises(ValueError, match='style'):
        RLABottleneck(64, 16, style='tensorflow', rla_channel=8)
    with pytest.raises(ValueError, match='style'):
        RLABasicBlock(64, 64, style='tensorflow', rla_channel=8)
    block = RLABottleneck(64, 64, stride=2, style='pytorch', rla_channel=8)
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    block = RLABottleneck(64, 64, stride=2, style='caffe', rla_channel=8)
    assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)


def test_bottleneck_plugin_checks_of_mmdet():
    with pytest.raises(AssertionError):  # mmdet's own check: position
        RLABottleneck(64, 16, rla_channel=8, plugins=[
            dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                 position='after_conv4')])
    with pytest.raises(AssertionError):  # duplicate plugin names
        RLABottleneck(64, 16, rla_channel=8, plugins=[CONTEXT3, CONTEXT3])
    with pytest.raises(KeyError):  # unknown plugin type
        RLABottleneck(64, 16, rla_channel=8, plugins=[
            dict(cfg=dict(type='WrongPlugin'), position='after_conv3')])


@pytest.mark.parametrize('dcn,cls', [(DCN, DeformConv2dPack),
                                     (DCNV2, ModulatedDeformConv2dPack)])
def test_bottleneck_dcn_on_the_3x3_conv(dcn, cls):
    with pytest.raises(ValueError, match='conv_cfg'):
        RLABottleneck(64, 64, dcn=dcn, conv_cfg=dict(type='Conv'),
                      rla_channel=8)
    block = RLABottleneck(64, 16, dcn=dcn, rla_channel=8)
    assert isinstance(block.conv2, cls)
    assert block.conv1.in_channels == 64 + 8
    assert 'fallback_on_stride' in dcn  # the caller's dict is not popped
    assert _run_block(block).shape == (1, 64, 14, 14)


def test_bottleneck_plugins_after_each_conv():
    plugins = [
        dict(cfg=dict(type='GeneralizedAttention', spatial_range=-1,
                      num_heads=8, attention_type='0010', kv_stride=2),
             position='after_conv2'),
        dict(cfg=dict(type='NonLocal2d'), position='after_conv2'),
        dict(cfg=dict(type='ContextBlock', ratio=1. / 16, postfix=1),
             position='after_conv1'),
        CONTEXT3,
    ]
    block = RLABottleneck(64, 16, plugins=plugins, rla_channel=8)
    assert block.gen_attention_block.in_channels == 16
    assert block.nonlocal_block.in_channels == 16
    assert block.context_block1.in_channels == 16
    assert block.context_block.in_channels == 64
    calls = []
    block.context_block.register_forward_hook(lambda *a: calls.append(1))
    assert _run_block(block).shape == (1, 64, 14, 14)
    assert calls == [1]


def test_backbone_dcn_and_plugins_per_stage():
    plugins = [
        dict(cfg=dict(type='NonLocal2d'), position='after_conv2'),
        dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
             stages=(False, True, True, False), position='after_conv3'),
    ]
    model = RLAResNet(50, base_channels=8, rla_channel=4, dcn=DCNV2,
                      stage_with_dcn=(False, True, True, True),
                      plugins=plugins)
    assert not isinstance(model.layer1[0].conv2, ModulatedDeformConv2dPack)
    assert all(isinstance(getattr(model, f'layer{i}')[0].conv2,
                          ModulatedDeformConv2dPack) for i in (2, 3, 4))
    assert not hasattr(model.layer1[0], 'context_block')
    assert model.layer2[0].context_block.in_channels == 64
    assert model.layer3[0].context_block.in_channels == 128
    assert not hasattr(model.layer4[0], 'context_block')
    assert model.layer4[0].nonlocal_block.in_channels == 64
    feats = model.train()(torch.randn(2, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [32, 64, 128, 256]
    # every parameter (RLA's, DCN's offsets, plugins') gets a gradient
    sum(f.sum() for f in feats).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize('kwargs,word', [
    (dict(depth=50, dcn=DCN, stage_with_dcn=(True, )), 'stage_with_dcn'),
    (dict(depth=50, num_stages=0), 'num_stages'),
    (dict(depth=50, num_stages=5), 'num_stages'),
    (dict(depth=50, strides=(1, ), dilations=(1, 1), num_stages=3),
     'strides'),
    (dict(depth=50, style='tensorflow'), 'style'),
    (dict(depth=20), 'depth'),
])
def test_backbone_invalid_combinations(kwargs, word):
    with pytest.raises(ValueError, match=word):
        RLAResNet(**kwargs)


def _bn_training(model):
    return {m.training for m in model.modules() if isinstance(m, _BatchNorm)}


def test_norm_eval_default_follows_the_library_scope():
    """Issue 14 item 9: built from an mmdet config that forgets
    ``norm_eval``, RLAResNet freezes BN statistics as mmdet's ResNet does;
    from mmpretrain (or plain PyTorch) it trains them; explicit values win."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as CLS_MODELS
    cfg = dict(type='RLAResNet', depth=18, base_channels=8, rla_channel=4)
    with DefaultScope.overwrite_default_scope('mmdet'):
        det = DET_MODELS.build(cfg)
        det_explicit = DET_MODELS.build(dict(cfg, norm_eval=False))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        cls = CLS_MODELS.build(cfg)
    assert det.norm_eval is True and _bn_training(det.train()) == {False}
    assert det_explicit.norm_eval is False
    assert cls.norm_eval is False and _bn_training(cls.train()) == {True}
    assert RLAResNet(18, base_channels=8, rla_channel=4).norm_eval is False
