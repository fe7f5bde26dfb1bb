"""rla_mm.testing.authors_rla_variants: the authors' ImageNet ablation models.

RLA paper (Zhao, Fang, Li, NeurIPS 2021, arXiv:2110.11852) Sec. 4.4, Table
11; the authors' ``models/resnet_rla_*.py`` and ``resnet_k.py`` of
``fangyanwen1106/RLANet``. The counts and key layouts pinned here are those of
the authors' files (they were compared with them, initial values and float64
logits included, when the port was written). The logits are checked against
``reference_logits`` below: the maths of each variant written out of place,
so that the aliasing the port keeps (y = block output) must be reproduced,
not assumed. Models with a forward are tiny (``TINY``); the default-size ones
are built on the meta device, for their counts and keys only.
"""
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rla_mm.testing.authors_rla_variants import (AUTHORS_VARIANT_ARCHS,
                                                 build_authors_variant)
from rla_mm.testing.authors_rlanet import RLA_Bottleneck, RLA_ResNet
from rla_mm.testing.norms import randomize_bn

from conftest import REPO_ROOT

# arch -> (numel, number of state-dict keys) at the authors' default size
PINNED = {
    'rla_resnet50': (25_870_696, 413), 'rla_resnet50_eca': (25_870_782, 429),
    'rla_resnet101': (45_003_176, 804), 'rla_resnet152': (60_770_792, 1195),
    'rla_resnet101_eca': (45_003_347, 837),
    'rla_resnet152_eca': (60_771_048, 1245),
    'rlav1_resnet50': (25_870_696, 413),
    'rlav1_resnet50_eca': (25_870_782, 429),
    **{f'rlav{v}_resnet50': (25_870_696, 413) for v in range(2, 7)},
    'resnet50_k': (26_794_280, 320), 'rlarh_resnet50': (25_749_864, 413),
    'rlaus_resnet50': (26_341_736, 437), 'rlaus_resnet101': (46_187_944, 862),
    'rlav1p_resnet50': (25_870_632, 408),
    'rlalstm_resnet50': (26_128_680, 408),
    'rlagru_resnet50': (26_056_104, 444),
    'rlagru_resnet50_eca': (26_056_190, 460),
    'rlagru_resnet101': (45_188_584, 835),
    'rlagru_resnet101_eca': (45_188_755, 868),
}
MAIN_KEYS = {  # main-model keys every shared R-50 variant has
    'conv1.weight': [64, 3, 7, 7], 'conv_outs.0.weight': [32, 256, 1, 1],
    'conv_outs.3.weight': [32, 2048, 1, 1],
    'stages.0.0.conv1.weight': [64, 96, 1, 1],
    'stages.3.1.conv1.weight': [512, 2080, 1, 1],
    'stages.1.0.downsample.0.weight': [512, 256, 1, 1],
    'stage_bns.2.5.running_var': [32], 'fc.weight': [1000, 2080]}
W3 = {'recurrent_convs.0.weight': [32, 32, 3, 3]}
BN2 = {'bn2.weight': [32]}
GRU = {'recurrent_convs.0.gate_conv.weight': [64, 64, 3, 3],
       'recurrent_convs.0.gate_conv.bias': [64],
       'recurrent_convs.3.reset_gate_norm.weight': [32],
       'recurrent_convs.3.update_gate_norm.bias': [32],
       'recurrent_convs.0.output_conv.weight': [32, 64, 3, 3],
       'recurrent_convs.0.output_conv.bias': [32],
       'recurrent_convs.1.output_norm.weight': [32]}
SHAPES = {  # arch -> keys it must have (with shapes), keys it must not have
    'rla_resnet50': ({**MAIN_KEYS, **W3, **BN2}, ()),
    'rlav1_resnet50_eca': ({**MAIN_KEYS, **W3, **BN2,
                            'stages.0.0.eca.conv.weight': [1, 1, 5],
                            'stages.3.2.eca.conv.weight': [1, 1, 7]}, ()),
    'rlav5_resnet50': ({**MAIN_KEYS, **W3, **BN2}, ()),
    'resnet50_k': ({'layer1.0.conv1.weight': [72, 64, 1, 1],
                    'layer2.0.downsample.0.weight': [544, 288, 1, 1],
                    'layer3.5.conv2.weight': [264, 264, 3, 3],
                    'layer4.2.conv3.weight': [2080, 520, 1, 1],
                    'fc.weight': [1000, 2080]},
                   ('conv_outs.0.weight', 'stages.0.0.conv1.weight')),
    'rlarh_resnet50': ({'stages.0.0.conv1.weight': [64, 64, 1, 1],
                        'stages.3.1.conv1.weight': [512, 2048, 1, 1],
                        **W3, **BN2}, ()),
    'rlaus_resnet50': ({'stages.0.0.conv1.weight': [64, 96, 1, 1],
                        'stages.0.0.conv_out.weight': [32, 256, 1, 1],
                        'stages.3.2.conv_out.weight': [32, 2048, 1, 1],
                        'stages.1.3.recurrent_conv.weight': [32, 32, 3, 3],
                        'stages.2.5.bn_rla.running_mean': [32], **BN2},
                       ('conv_outs.0.weight', 'recurrent_convs.0.weight',
                        'stage_bns.0.0.weight')),
    'rlav1p_resnet50': ({**MAIN_KEYS, **W3}, ('bn2.weight', )),
    'rlalstm_resnet50': ({**MAIN_KEYS,
                          'recurrent_convs.0.conv.weight': [128, 64, 3, 3]},
                         ('bn2.weight', 'recurrent_convs.0.weight')),
    'rlagru_resnet50': ({**MAIN_KEYS, **GRU}, ('bn2.weight', )),
}
TINY = dict(num_classes=10, layers=(2, 1, 1, 1), rla_channel=8)
F64 = dict(rtol=1e-9, atol=1e-10)


def meta_model(arch, **kwargs):
    with torch.device('meta'):
        return build_authors_variant(arch, **kwargs)


def numel(model):
    return sum(p.numel() for p in model.parameters())


def layout(model):
    return [(k, list(v.shape)) for k, v in model.state_dict().items()]


def tiny(arch, seed=0):
    """A tiny float64 eval-mode model with non-trivial BN/GN values."""
    torch.manual_seed(seed)
    model = randomize_bn(build_authors_variant(arch, **TINY), seed)
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.GroupNorm):
            m.weight.data.uniform_(.5, 1.5, generator=g)
            m.bias.data.normal_(0, .1, generator=g)
    return model.double().eval()


def image(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, 64, 64, generator=g, dtype=torch.float64)


@torch.no_grad()
def logits(model, x):
    return model(x)


def _gn(t, norm):
    return F.group_norm(t, 1, norm.weight, norm.bias, 1e-6)


def reference_logits(model, x, source='output', update='pre', head='relu',
                     exchange=True):
    """The variant's maths, out of place, with ``model``'s modules.

    ``source``: 'residual' (bn3 output), 'output' (after the shortcut sum
    and ReLU) or 'shortcut'; the rest as in the spec of the variants."""
    sig, tanh, relu, cat = torch.sigmoid, torch.tanh, torch.relu, torch.cat
    x = F.max_pool2d(relu(model.bn1(model.conv1(x))), 3, 2, 1)
    h = x.new_zeros(x.shape[0], model.rla_channel, *x.shape[2:])
    c, k = torch.zeros_like(h), model.rla_channel
    for s, blocks in enumerate(model.stages):
        w1, w3 = model.conv_outs[s], model.recurrent_convs[s]
        for j, b in enumerate(blocks):
            r = b.conv1(cat((x, h), 1) if exchange else x)
            r = b.bn3(b.conv3(relu(b.bn2(b.conv2(relu(b.bn1(r)))))))
            r = r if b.eca is None else b.eca(r)
            sc = x if b.downsample is None else b.downsample(x)
            if b.downsample is not None and b.conv2.stride == (2, 2):
                h, c = F.avg_pool2d(h, 2), F.avg_pool2d(c, 2)
            out = relu(r + sc)
            y = dict(residual=r, output=out, shortcut=sc)[source]
            bn = model.stage_bns[s][j]
            if update == 'pre':
                h = w3(tanh(bn(h + w1(y))))
            elif update == 'post':
                h = w3(tanh(bn(h))) + w1(y)
            elif update == 'postact':
                h = tanh(bn(w3(h + w1(y))))
            elif update == 'lstm':
                i, f, o, g = F.conv2d(cat((tanh(bn(w1(y))), h), 1),
                                      w3.conv.weight, padding=1).chunk(4, 1)
                c = sig(f) * c + sig(i) * tanh(g)
                h = sig(o) * tanh(c)
            else:  # ConvGRU
                u = tanh(bn(w1(y)))
                rz = F.conv2d(cat((u, h), 1), w3.gate_conv.weight,
                              w3.gate_conv.bias, padding=1)
                rg = sig(_gn(rz[:, :k], w3.reset_gate_norm))
                z = sig(_gn(rz[:, k:], w3.update_gate_norm))
                n = F.conv2d(cat((u, rg * h), 1), w3.output_conv.weight,
                             w3.output_conv.bias, padding=1)
                h = z * h + (1 - z) * tanh(_gn(n, w3.output_norm))
            x = out
    if head is not None:
        h = model.bn2(h)
        h = relu(h) if head == 'relu' else tanh(h)
    return model.fc(cat((x, h), 1).mean((2, 3)))


# ---------------------------------------------------------------- counts
def test_every_arch_is_pinned():
    assert set(AUTHORS_VARIANT_ARCHS) == set(PINNED)
    with pytest.raises(KeyError, match='rlav7_resnet50'):
        build_authors_variant('rlav7_resnet50')


@pytest.mark.parametrize('arch', list(PINNED))
def test_default_size_counts(arch):
    model = meta_model(arch)
    assert (numel(model), len(model.state_dict())) == PINNED[arch]


@pytest.mark.parametrize('arch', list(SHAPES))
def test_key_names_and_shapes(arch):
    present, absent = SHAPES[arch]
    state = dict(layout(meta_model(arch)))
    assert {k: state.get(k) for k in present} == present
    assert not set(absent) & set(state)


def test_count_differences_match_the_spec():
    main = numel(meta_model('rla_resnet50'))
    plain = numel(meta_model('resnet50_k', rla_channel=0))
    assert plain == 25_557_032  # channel_k = 0: torchvision's ResNet-50
    assert numel(meta_model('resnet50_k')) - plain == 1_237_248
    assert main - numel(meta_model('rlarh_resnet50')) == 32 * (
        3 * 64 + 4 * 128 + 6 * 256 + 3 * 512)
    assert numel(meta_model('rlaus_resnet50')) - main == 12 * 9216 + 360_448
    assert numel(meta_model('rlalstm_resnet50')) - main == 4 * (
        73_728 - 9216) - 64
    assert numel(meta_model('rlagru_resnet50')) - main == 185_408


# ---------------------------------------------------------------- layouts
@pytest.mark.parametrize('arch', ['rla_resnet50', 'rla_resnet50_eca',
                                  'rla_resnet101', 'rla_resnet101_eca'])
def test_main_models_have_the_released_layout(arch):
    with open(osp.join(REPO_ROOT, 'tests', 'data',
                       'official_rlanet_state_dict_keys.json')) as f:
        released = json.load(f)[arch]
    assert layout(meta_model(arch)) == list(released.items())


@pytest.mark.parametrize('arch', [f'rlav{v}_resnet50' for v in range(1, 7)])
def test_v1_to_v6_have_the_main_layout(arch):
    assert layout(meta_model(arch)) == layout(meta_model('rla_resnet50'))


def test_rh_differs_from_main_only_in_conv1_widths():
    main = layout(meta_model('rla_resnet50'))
    rh = layout(meta_model('rlarh_resnet50'))
    assert [k for k, _ in rh] == [k for k, _ in main]
    assert {k for (k, a), (_, b) in zip(rh, main) if a != b} == {
        k for k, _ in main if k.startswith('stages.') and
        k.endswith('.conv1.weight')}


def _modules_in_order(keys, prefix=''):
    names = [k[len(prefix):].split('.')[0] for k in keys
             if k.startswith(prefix)]
    return list(dict.fromkeys(names))


@pytest.mark.parametrize('arch, top', [
    ('rla_resnet50', ['conv1', 'bn1', 'conv_outs', 'recurrent_convs',
                      'stages', 'stage_bns', 'bn2', 'fc']),
    ('rlagru_resnet50', ['conv1', 'bn1', 'conv_outs', 'recurrent_convs',
                         'stages', 'stage_bns', 'fc']),
    ('rlaus_resnet50', ['conv1', 'bn1', 'stages', 'bn2', 'fc']),
    ('resnet50_k', ['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4',
                    'fc']),
])
def test_registration_order(arch, top):
    keys = list(meta_model(arch).state_dict())
    assert _modules_in_order(keys) == top
    if arch == 'rlaus_resnet50':
        assert _modules_in_order(keys, 'stages.1.0.') == [
            'conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3', 'downsample',
            'conv_out', 'recurrent_conv', 'bn_rla']


# ---------------------------------------------------------------- init
@pytest.mark.parametrize('arch', ['rla_resnet50_eca', 'resnet50_k',
                                  'rlaus_resnet50', 'rlagru_resnet50'])
def test_the_authors_init(arch):
    torch.manual_seed(0)
    model = build_authors_variant(arch, num_classes=10, layers=(1, 1, 1, 1))
    for name, m in model.named_modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            assert (m.weight == float(not name.endswith('bn3'))).all(), name
            assert (m.bias == 0).all(), name
        elif isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            fan_in, fan_out = m.in_channels * kh * kw, m.out_channels * kh * kw
            if m.weight.numel() >= 4096:  # kaiming_normal, fan_out
                std = m.weight.std().item()
                assert abs(std * (fan_out / 2)**.5 - 1) < .1, name
            if m.bias is not None:  # PyTorch's default, not zeroed
                assert 0 < m.bias.abs().max() <= fan_in**-.5, name
    bound = model.fc.in_features**-.5
    assert 0 < model.fc.weight.abs().max() <= bound


# ---------------------------------------------------------------- forward
def test_main_model_equals_the_existing_port():
    ours = tiny('rla_resnet50_eca')
    port = RLA_ResNet(RLA_Bottleneck, TINY['layers'], TINY['num_classes'],
                      TINY['rla_channel'], ECA=(5, 5, 5, 7)).double()
    port.load_state_dict(ours.state_dict())
    assert layout(port) == layout(ours)
    assert torch.equal(logits(port.double().eval(), image()),
                       logits(ours, image()))


@pytest.mark.parametrize('arch, maths', [
    ('rla_resnet50', {}),
    ('rla_resnet50_eca', {}),
    ('rlav1_resnet50', dict(head='tanh')),
    ('rlav2_resnet50', dict(update='post')),
    ('rlav3_resnet50', {}),
    ('rlav4_resnet50', dict(update='post')),
    ('rlav5_resnet50', dict(source='shortcut')),
    ('rlav6_resnet50', dict(source='shortcut', update='post')),
    ('rlarh_resnet50', dict(exchange=False)),
    ('rlav1p_resnet50', dict(update='postact', head=None)),
    ('rlalstm_resnet50', dict(update='lstm', head=None)),
    ('rlagru_resnet50', dict(update='gru', head=None)),
])
def test_logits_follow_the_variant_maths(arch, maths):
    model, x = tiny(arch), image()
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_logits(model, x,
                                                              **maths), **F64)
        if maths.get('source') is None:  # y is the block OUTPUT, not r
            wrong = reference_logits(model, x, source='residual', **maths)
            assert not torch.allclose(model(x), wrong, **F64)


def test_v3_is_main_and_v4_is_v2_with_the_same_weights():
    """The spec's finding: with y aliased, the code has four networks."""
    x, state = image(), tiny('rla_resnet50').state_dict()
    out = {}
    for arch in ('rla_resnet50', 'rlav1_resnet50', 'rlav2_resnet50',
                 'rlav3_resnet50', 'rlav4_resnet50', 'rlav5_resnet50',
                 'rlav6_resnet50'):
        model = tiny(arch, seed=99)
        model.load_state_dict(state)
        out[arch] = logits(model, x)
    assert torch.equal(out['rlav3_resnet50'], out['rla_resnet50'])
    assert torch.equal(out['rlav4_resnet50'], out['rlav2_resnet50'])
    distinct = ['rla_resnet50', 'rlav1_resnet50', 'rlav2_resnet50',
                'rlav5_resnet50', 'rlav6_resnet50']
    for i, a in enumerate(distinct):
        for b in distinct[i + 1:]:
            assert (out[a] - out[b]).abs().max() > 1e-6, (a, b)


def test_post_update_is_computed_at_h_zero():
    """W3(tanh(BN(0))) is a learned constant with zero-padded borders."""
    model, calls = tiny('rlav2_resnet50'), []
    model.recurrent_convs[0].register_forward_hook(
        lambda m, args, out: calls.append((args[0], out)))
    logits(model, image())
    assert len(calls) == TINY['layers'][0]
    first_in, first_out = calls[0]
    bn = model.stage_bns[0][0]
    with torch.no_grad():
        assert torch.equal(first_in, torch.tanh(bn(torch.zeros_like(
            first_in))))
    assert first_out.abs().max() > 1e-2
    inner = first_out[..., 1:-1, 1:-1]
    assert torch.allclose(inner, inner[..., :1, :1].expand_as(inner))
    assert not torch.allclose(first_out[..., 0, 0], first_out[..., 5, 5])


def test_unshared_tied_to_shared_weights_is_main_with_y_residual():
    main, us, x = tiny('rla_resnet50'), tiny('rlaus_resnet50', 7), image()
    shared = main.state_dict()
    tied = {}
    for key in us.state_dict():
        parts = key.split('.')
        if len(parts) > 3 and parts[3] in ('conv_out', 'recurrent_conv',
                                           'bn_rla'):
            s, j, rest = parts[1], parts[2], '.'.join(parts[4:])
            key_main = {'conv_out': f'conv_outs.{s}.{rest}',
                        'recurrent_conv': f'recurrent_convs.{s}.{rest}',
                        'bn_rla': f'stage_bns.{s}.{j}.{rest}'}[parts[3]]
        else:
            key_main = key
        tied[key] = shared[key_main]
    us.load_state_dict(tied)
    with torch.no_grad():
        got = us(x)
        torch.testing.assert_close(
            got, reference_logits(main, x, source='residual'), **F64)
        assert not torch.allclose(got, main(x), **F64)


def test_rh_features_never_see_h():
    x = image()
    for arch, sees_h in (('rlarh_resnet50', False), ('rla_resnet50', True)):
        model = tiny(arch)
        with torch.no_grad():
            before, _, _ = model.features(x)
            for conv in model.recurrent_convs:
                conv.weight.mul_(3)
            after, _, h = model.features(x)
        assert h.dtype == torch.float64
        same = all(torch.equal(a, b) for a, b in zip(before, after))
        assert same is not sees_h, arch


def test_resnet_k_tiny_forward():
    model = tiny('resnet50_k')
    assert [model.layer1[0].conv1.out_channels,
            model.layer4[0].conv3.out_channels] == [66, 2056]
    assert logits(model, image()).shape == (1, 10)
