"""RLA-MobileNetV2 (RLA paper App. B.2.1, Table 3)."""
import pytest
import torch
from mmpretrain.models.backbones import MobileNetV2
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.testing.authors_rlanet import dsRLA_MobileNetV2
from rla_mm.models import RLAMobileNetV2
from rla_mm.converters.rlanet import map_backbone_keys


def _n(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('size', [(64, 64), (97, 131)])
@pytest.mark.parametrize('widen_factor', [1.0, 0.5])
def test_shapes_match_mmpretrain_mobilenet_v2(size, widen_factor):
    x = torch.rand(1, 3, *size)
    indices = tuple(range(8))
    rla = RLAMobileNetV2(widen_factor, rla_channel=8, out_indices=indices)
    plain = MobileNetV2(widen_factor, out_indices=indices)
    plain.eval()  # mmpretrain's train() returns None: no chaining
    with torch.no_grad():
        got = [o.shape for o in rla.eval()(x)]
        want = [o.shape for o in plain(x)]
    assert got == want


def test_widen_factor_above_one_widens_conv2():
    model = RLAMobileNetV2(1.4, rla_channel=8, concat_hidden=True).eval()
    with torch.no_grad():
        (out, ) = model(torch.rand(1, 3, 32, 32))
    assert out.shape[1] == 1792
    assert model.conv2.conv.weight.shape[1] == 448 + 8  # x and h


def test_param_increase_matches_paper_table3():
    """Table 3: MobileNetV2 3.34M -> RLA-MobileNetV2 3.46M (+0.12M), k=32,
    with the 1000-class head (1280 inputs in both networks)."""
    rla = RLAMobileNetV2(out_indices=(7, ), concat_hidden=True)
    plain = MobileNetV2(out_indices=(7, ))
    increase = _n(rla) - _n(plain)
    # k=32: 7 shared 1x1 convs (32 x 712), 5 depthwise 3x3 (5 x 288),
    # 17 BNs (17 x 64), 17 depthwise convs + BNs on 32 more channels
    # (17 x (288 + 64)), 17 projections with 32 more inputs (32 x 1504),
    # conv2 with 32 more inputs (32 x 1280), hidden_norm (64)
    assert increase == 22784 + 1440 + 1088 + 17 * 352 + 48128 + 40960 + 64
    assert round(increase / 1e6, 2) == 0.12
    eca = RLAMobileNetV2(out_indices=(7, ), concat_hidden=True,
                         with_eca=True)
    # ECA: kernel 1 in the 10 blocks narrower than 96, 3 in the other 7
    assert _n(eca) - _n(rla) == 10 * 1 + 7 * 3


def _from_reference(ref, **kwargs):
    """An RLAMobileNetV2 holding the reference port's weights."""
    model = RLAMobileNetV2(
        rla_channel=ref.rla_channel, out_indices=tuple(range(8)),
        concat_hidden=True, **kwargs)
    src = {k: v for k, v in ref.state_dict().items()
           if not k.startswith('classifier.')}
    mapping = map_backbone_keys(src, 'rla_mobilenet_v2')
    model.load_state_dict({mapping[k]: v for k, v in src.items()},
                          strict=True)
    return model


@pytest.mark.parametrize('eca', [False, True])
@pytest.mark.parametrize('y_is_output', [False, True])
@pytest.mark.parametrize('training', [False, True])
def test_matches_the_authors_network(eca, y_is_output, training):
    """Every group output and the conv2 output equal the plain port of the
    authors' dsRLA-MobileNetV2, with batch statistics too (h updates and
    per-block BNs in train mode)."""
    torch.manual_seed(0)
    ref = dsRLA_MobileNetV2(rla_channel=8, ECA=eca, y_is_output=y_is_output)
    for m in ref.modules():
        if isinstance(m, _BatchNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0, 0.1)
            nn.init.normal_(m.running_mean, 0, 0.1)
            nn.init.uniform_(m.running_var, 0.5, 1.5)
    model = _from_reference(
        ref, with_eca=eca, rla_source='output' if y_is_output else 'residual')
    ref.train(training)
    model.train(training)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        feats, x_last, h = ref.features(x)
        h = ref.relu(ref.bn2(h))
        want = feats + [ref.conv2(torch.cat([x_last, h], 1))]
        got = model(x)
    assert len(got) == 8
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('kwargs', [
    dict(out_indices=(7, ), concat_hidden=True),
    dict(out_indices=(7, ), concat_hidden=False),
    dict(out_indices=(2, 4, 6)),
    dict(out_indices=(1, 2, 4)),
    dict(out_indices=(0, )),
    dict(out_indices=(4, 7), with_eca=True),
])
def test_every_parameter_gets_a_gradient(kwargs):
    """No parameter without gradient in any mode (DDP without
    find_unused_parameters), i.e. unused h updates are not built."""
    model = RLAMobileNetV2(rla_channel=8, **kwargs).train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.float().pow(2).mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad


def test_detection_mode_drops_only_the_unused_updates():
    model = RLAMobileNetV2(out_indices=(2, 4, 6))
    assert not hasattr(model, 'conv2') and not hasattr(model, 'hidden_norm')
    assert model.layer7.rla is None  # its one update feeds nothing
    assert len(model.layer6.rla.norms) == 3
    assert len(model.recurrent_convs) == 5
    small = RLAMobileNetV2(out_indices=(1, ))
    assert small.layers == ['layer1', 'layer2']
    assert len(small.layer2.rla.norms) == 1 and len(small.recurrent_convs) == 2


@pytest.mark.parametrize('frozen_stages', [0, 1, 4, 5, 7])
def test_frozen_stages_include_rla(frozen_stages):
    model = RLAMobileNetV2(
        rla_channel=8, out_indices=(7, ), concat_hidden=True,
        frozen_stages=frozen_stages)
    model.train()
    frozen = [model.conv1] + [
        getattr(model, f'layer{g}') for g in range(1, frozen_stages + 1)
    ]
    last_group_of_stage = {0: 1, 1: 2, 2: 3, 3: 5, 4: 7}
    for s, conv in enumerate(model.recurrent_convs):
        # shared by the stage's groups: frozen once all of them are
        assert conv.weight.requires_grad == (
            last_group_of_stage[s] > frozen_stages)
    for m in frozen:
        assert all(not p.requires_grad for p in m.parameters())
        assert all(not b.training for b in m.modules()
                   if isinstance(b, _BatchNorm))
    if frozen_stages < 7:
        nxt = getattr(model, f'layer{frozen_stages + 1}')
        assert all(p.requires_grad for p in nxt.parameters())
        assert nxt.rla.norms[0].training
    assert model.conv2.conv.weight.requires_grad


def test_norm_eval_covers_rla_norms():
    model = RLAMobileNetV2(rla_channel=8, concat_hidden=True, norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    assert not model.layer3.rla.norms[1].training
    assert not model.hidden_norm.training


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    a = RLAMobileNetV2(rla_channel=8, out_indices=(2, 4, 6))
    b = RLAMobileNetV2(rla_channel=8, out_indices=(2, 4, 6), with_cp=True)
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for model in (a, b):
        model.train()
        outs = model(x)
        sum(o.sum() for o in outs).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
        outs_a = outs if model is a else outs_a
    for oa, ob in zip(outs_a, outs):
        torch.testing.assert_close(oa, ob)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name],
                                   rtol=1e-4, atol=1e-6)


def test_syncbn_reaches_every_norm():
    model = RLAMobileNetV2(
        rla_channel=8, concat_hidden=True, norm_cfg=dict(type='SyncBN'))
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    assert isinstance(model.layer4.rla.norms[3], nn.SyncBatchNorm)


def test_builds_from_mmdet_and_mmpretrain_registries():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    for registry in (DET, CLS):
        model = registry.build(dict(type='RLAMobileNetV2', rla_channel=8))
        assert isinstance(model, RLAMobileNetV2)


@pytest.mark.parametrize('kwargs,word', [
    (dict(out_indices=(8, )), 'out_indices'),
    (dict(out_indices=()), 'out_indices'),
    (dict(out_indices=7), 'out_indices'),
    (dict(rla_channel=True), 'rla_channel'),
    (dict(eca_kernel_sizes=3), 'eca_kernel_sizes'),
    (dict(frozen_stages=8), 'frozen_stages'),
    (dict(rla_channel=0), 'rla_channel'),
    (dict(rla_source='input'), 'rla_source'),
    (dict(widen_factor=0), 'widen_factor'),
    (dict(out_indices=(6, ), concat_hidden=True), 'concat_hidden'),
    (dict(eca_kernel_sizes=(3, ) * 6), 'eca_kernel_sizes'),
    (dict(eca_kernel_sizes=(3, 3, 3, 2, 3, 3, 3)), 'eca_kernel_sizes'),
])
def test_invalid_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        RLAMobileNetV2(**kwargs)
