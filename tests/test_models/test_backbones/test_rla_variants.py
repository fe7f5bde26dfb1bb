"""The RLA ablation variants as options of RLAResNet / RLAResNetCIFAR (RLA
paper Sec. 4.4, Table 11, Table 13, Table 15, App. B.4): exact parameter
counts of the authors' models, the plain reference of each cell and update
position (float64), both conv1 paths, detection mode without unused
parameters, and named errors for meaningless combinations."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from rla_mm.models import (PreActResNetCIFAR, RLAResNet, RLAResNetCIFAR,
                           WidenedResNet)
from rla_mm.testing.norms import randomize_bn
from rla_mm.testing.reference_rla import (reference_cifar_forward,
                                          reference_forward)

from conftest import REPO_ROOT

F64 = dict(rtol=1e-9, atol=1e-10)
TINY = dict(base_channels=16, rla_channel=8)
#: name -> RLAResNet options, the authors' variants (rlanet_variants.py)
VARIANTS = {
    'v1': {},
    'v1_residual': dict(rla_source='residual'),
    'v2': dict(rla_update='post'),
    'v2_residual': dict(rla_update='post', rla_source='residual'),
    'v5': dict(rla_source='shortcut'),
    'v6': dict(rla_source='shortcut', rla_update='post'),
    'tanh_head': dict(hidden_act='tanh'),
    'no_exchange': dict(rla_exchange=False),
    'unshared': dict(rla_shared=False, rla_source='residual'),
    'postact': dict(rla_cell='postact'),
    'convlstm': dict(rla_cell='convlstm'),
    'convgru': dict(rla_cell='convgru'),
}


def _classifier_params(backbone, num_classes):
    """numel of backbone + global pooling + linear head, as the paper's
    classifiers (the head's input is the backbone's feat_dim)."""
    return sum(p.numel() for p in backbone.parameters()) + (
        backbone.feat_dim + 1) * num_classes


# Every count of the authors' ImageNet models (rla_ablation_spec; the
# ports in rla_mm/testing/authors_rla_variants.py are pinned to the same).
@pytest.mark.parametrize('name,options,depth,numel', [
    ('main / v1-v6', {}, 50, 25_870_696),
    ('v2', dict(rla_update='post'), 50, 25_870_696),
    ('v6', dict(rla_source='shortcut', rla_update='post'), 50, 25_870_696),
    ('tanh head', dict(hidden_act='tanh'), 50, 25_870_696),
    ('no exchange', dict(rla_exchange=False), 50, 25_749_864),
    ('unshared', dict(rla_shared=False), 50, 26_341_736),
    ('unshared R-101', dict(rla_shared=False), 101, 46_187_944),
    ('post-act', dict(rla_cell='postact'), 50, 25_870_632),
    ('ConvLSTM', dict(rla_cell='convlstm'), 50, 26_128_680),
    ('ConvGRU', dict(rla_cell='convgru'), 50, 26_056_104),
])
def test_imagenet_variant_counts(name, options, depth, numel):
    with torch.device('meta'):
        model = RLAResNet(depth, out_indices=(3, ), concat_hidden=True,
                          **options)
    assert _classifier_params(model, 1000) == numel


def test_widened_resnet_is_the_authors_resnet_k():
    with torch.device('meta'):
        model = WidenedResNet(50, out_indices=(3, ))
    assert _classifier_params(model, 1000) == 26_794_280  # Table 11 (a)
    assert [model.layer1[0].conv1.weight.shape[0]] + [
        getattr(model, f'layer{i}')[0].conv3.weight.shape[0]
        for i in range(1, 5)] == [72, 288, 544, 1056, 2080]
    assert tuple(model.layer2[0].downsample[0].weight.shape) == (544, 288, 1,
                                                                 1)
    assert not any('rla' in k for k in model.state_dict())


# App. B.4 / Table 13 on CIFAR-10 (rla_ablation_spec, decimal M): every row
# the pre-activation ResNet-164 mapping reaches, and the two it cannot.
@pytest.mark.parametrize('options,numel,paper_m', [
    (dict(rla_channel=0), 1_703_258, None),  # paper 1.72M: unreachable
    (dict(rla_channel=0, extra_channels=12), 1_925_660, 1.93),
    (dict(rla_shared=False), 1_896_938, 1.90),
    (dict(rla_exchange=False), 1_713_962, None),  # paper 1.72M: unreachable
    (dict(rla_cell='convlstm'), 1_766_642, 1.77),
    (dict(rla_cell='postact'), 1_739_426, 1.74),
    (dict(rla_update='post', rla_source='shortcut'), 1_739_450, 1.74),
    (dict(rla_channel=8), 1_726_522, 1.73),
    (dict(rla_channel=16), 1_753_242, 1.75),
    (dict(rla_channel=24), 1_783_418, 1.78),
    (dict(rla_cell='convgru'), 1_759_190, None),  # in no table
])
def test_cifar_ablation_counts(options, numel, paper_m):
    if options.get('rla_channel') == 0:
        kwargs = {k: v for k, v in options.items() if k != 'rla_channel'}
        model = PreActResNetCIFAR(164, **kwargs)
    else:
        model = RLAResNetCIFAR(164, **options)
    assert _classifier_params(model, 10) == numel
    if paper_m is not None:
        assert round(numel / 1e6, 2) == paper_m


def _tiny(depth, **options):
    torch.manual_seed(0)
    model = RLAResNet(depth, out_indices=(0, 1, 2, 3), concat_hidden=True,
                      **TINY, **options)
    return randomize_bn(model).double().eval()


@pytest.mark.parametrize('name', sorted(VARIANTS))
@pytest.mark.parametrize('depth', [18, 50])
def test_variant_equals_plain_reference_on_both_conv1_paths(name, depth):
    """float64, odd input size; the split path (pending updates, shared
    GEMMs) and the concatenation compute the reference's maths."""
    options = VARIANTS[name]
    x = torch.rand(2, 3, 61, 75, dtype=torch.float64)
    want = None
    for split in (True, False):
        model = _tiny(depth, split_conv1=split, **options)
        with torch.no_grad():
            got = model(x)
            if want is None:
                want = reference_forward(model, x, **_reference_options(
                    options))
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, **F64)


def _reference_options(options):
    return dict(rla_source=options.get('rla_source', 'output'))


def test_post_update_on_the_zero_state_is_computed():
    """v2's first update is W3(tanh(BN(0))) + W1 y, not W1 y."""
    model = _tiny(18, rla_update='post')
    unit = model.layer1.rla
    y = torch.rand(1, 16, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        h = unit(None, y, 0)
        constant = h - unit.conv_out(y)
    assert constant.abs().max() > 1e-3
    # a learned constant in the interior, other values at the zero-padded
    # borders of the recurrent conv
    interior = constant[..., 1:-1, 1:-1]
    torch.testing.assert_close(interior, interior[..., :1, :1].expand_as(
        interior), **F64)
    assert not torch.allclose(constant[..., 0, 0], constant[..., 4, 4])


def test_cifar_variants_equal_plain_reference():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    for options in VARIANTS.values():
        model = randomize_bn(RLAResNetCIFAR(
            20, rla_channel=4, **options)).double().eval()
        with torch.no_grad():
            torch.testing.assert_close(
                model(x)[-1], reference_cifar_forward(model, x), **F64)


@pytest.mark.parametrize('name', sorted(set(VARIANTS) - {'no_exchange'}))
def test_detection_mode_every_parameter_gets_a_gradient(name):
    """concat_hidden=False: the last update (which would feed nothing) is
    not built, so DDP needs no find_unused_parameters."""
    torch.manual_seed(0)
    model = RLAResNet(50, out_indices=(0, 1, 2, 3), **TINY, **VARIANTS[name])
    model.train()
    sum(o.mean() for o in model(torch.rand(2, 3, 64, 64))).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize('options,match', [
    (dict(rla_cell='lstm'), 'rla_cell'),
    (dict(rla_cell='convlstm', rla_update='post'), 'rla_update'),
    (dict(rla_cell='postact', rla_update='post'), 'rla_update'),
    (dict(rla_update='after'), 'rla_update'),
    (dict(rla_cell='convgru', rla_shared=False), 'rla_shared'),
    (dict(rla_exchange=False, concat_hidden=False), 'rla_exchange'),
    (dict(rla_cell='convlstm', hidden_act='relu'), 'hidden_act'),
    (dict(hidden_act='sigmoid'), 'hidden_act'),
    (dict(extra_channels=6), 'extra_channels'),
    (dict(rla_channel=0), 'rla_channel'),  # k = 0: WidenedResNet
    (dict(rla_source='input'), 'rla_source'),
    (dict(rla_shared=0), 'rla_shared'),
])
def test_meaningless_options_are_named_errors(options, match):
    kwargs = dict(out_indices=(3, ), concat_hidden=True)
    kwargs.update(options)
    with pytest.raises(ValueError, match=match):
        RLAResNet(50, **kwargs)


def test_widened_resnet_has_no_hidden_state_to_concatenate():
    with pytest.raises(ValueError, match='concat_hidden'):
        WidenedResNet(50, out_indices=(3, ), concat_hidden=True)
    with pytest.raises(ValueError, match='extra_channels'):
        WidenedResNet(50, extra_channels=30)


ABLATION = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'rla_ablation',
                                     '*.py')))


@pytest.mark.parametrize('path', ABLATION, ids=osp.basename)
def test_ablation_config_is_its_headline_config_but_the_backbone(path):
    """Every ablation config trains exactly as the paper's RLA-ResNet-50 /
    -101 (ImageNet) or RLA-ResNet-164 (CIFAR-10) config: only the backbone
    (and the classifier's input width) differ."""
    cifar = path.endswith('_cifar10.py')
    headline = 'rla_resnet164_cifar10.py' if cifar else \
        'rla_resnet101_4xb64_in1k.py' if 'resnet101' in path else \
        'rla_resnet50_4xb64_in1k.py'
    cfg = Config.fromfile(path).to_dict()
    want = Config.fromfile(osp.join(REPO_ROOT, 'configs', headline)).to_dict()
    for d in (cfg, want):
        d['model'].pop('backbone')
        d['model']['head'].pop('in_channels')
        d.pop('rla_channel', None)  # the variable the backbone reads
    assert cfg == want
