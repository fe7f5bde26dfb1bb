"""RLA-ResNet / RLA-ECANet backbone (RLA paper Sec. 3.3, Table 3, Table 10)."""
import copy

import pytest
import torch
from mmdet.models.backbones import ResNet
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.models import RLAECAResNet, RLAResNet
from rla_mm.testing.reference_rla import reference_forward
from rla_mm.testing.norms import randomize_bn

TINY = dict(base_channels=16, rla_channel=8)




@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('size', [(64, 64), (97, 131), (300, 300)])
def test_shapes_and_strides_match_mmdet_resnet(depth, size):
    x = torch.rand(1, 3, *size)
    rla = RLAResNet(depth, **TINY).eval()
    plain = ResNet(depth, base_channels=16)
    plain.eval()  # mmdet's ResNet.train() returns None: no chaining
    with torch.no_grad():
        got = [o.shape for o in rla(x)]
        want = [o.shape for o in plain(x)]
    assert got == want


def test_concat_hidden_adds_k_channels_to_last_stage():
    model = RLAResNet(50, out_indices=(2, 3), concat_hidden=True).eval()
    with torch.no_grad():
        c4, c5 = model(torch.rand(1, 3, 64, 64))
    assert c4.shape[1] == 1024 and c5.shape[1] == 2048 + 32
    assert model.feat_dim == 2048 + 32


@pytest.mark.parametrize('rla_source', ['output', 'residual'])
@pytest.mark.parametrize('depth,eca', [(18, None), (50, None),
                                       (50, (3, 3, 5, 5))])
@pytest.mark.parametrize('concat_hidden', [False, True])
@pytest.mark.parametrize('split_conv1', [False, True])
def test_matches_plain_reference(rla_source, depth, eca, concat_hidden,
                                 split_conv1):
    """Both ways of computing conv1 against the reference, in float64.

    float64 because the random-BN network amplifies rounding: in float32 the
    reference itself is ~1e-3 away from its float64 result, so only the
    reference's exact op order could be compared there (see below).
    """
    torch.manual_seed(0)
    model = RLAResNet(depth, eca_kernel_sizes=eca, rla_source=rla_source,
                      concat_hidden=concat_hidden, zero_init_residual=False,
                      split_conv1=split_conv1, **TINY)
    model.init_weights()
    randomize_bn(model)
    model.double()
    x = torch.rand(2, 3, 67, 45, dtype=torch.float64)
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            got = model(x)
            want = reference_forward(model, x, rla_source, training=training)
        assert len(got) == len(want) == 4
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('rla_source', ['output', 'residual'])
def test_concatenation_path_is_the_reference_bit_for_bit(rla_source):
    """``split_conv1=False`` keeps the reference's (and the authors') op
    order, so in float32 it gives the very same bits."""
    torch.manual_seed(0)
    model = RLAResNet(50, eca_kernel_sizes=(3, 3, 5, 5),
                      rla_source=rla_source, concat_hidden=True,
                      zero_init_residual=False, split_conv1=False, **TINY)
    model.init_weights()
    randomize_bn(model)
    x = torch.rand(2, 3, 67, 45)
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            got = model(x)
            want = reference_forward(model, x, rla_source, training=training)
        for g, w in zip(got, want):
            assert torch.equal(g, w)


def test_split_conv1_auto_resolves_by_device():
    from rla_mm.models.layers import uses_split_conv1
    model = RLAResNet(18, **TINY)
    layers = [getattr(model, name) for name in model.res_layers]
    assert model.stage_cfg['split_conv1'] == 'auto'
    assert all(layer.split_conv1 == 'auto' for layer in layers)
    cpu = torch.zeros(1)
    assert uses_split_conv1('auto', cpu) is True
    assert uses_split_conv1(False, cpu) is False
    meta = torch.empty(1, device='meta')
    assert uses_split_conv1('auto', meta) is False
    assert uses_split_conv1(True, meta) is True


@pytest.mark.parametrize('bad', [1, 0, None, 'yes'])
def test_split_conv1_rejects_other_values(bad):
    with pytest.raises(ValueError, match='split_conv1'):
        RLAResNet(18, split_conv1=bad, **TINY)


def test_rla_source_changes_the_result():
    torch.manual_seed(0)
    a = RLAResNet(18, zero_init_residual=False, **TINY).eval()
    b = RLAResNet(18, rla_source='residual', **TINY).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(a(x)[-1], b(x)[-1])


def _classifier(backbone, in_channels):
    from mmpretrain.models import ImageClassifier
    return ImageClassifier(
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000,
                  in_channels=in_channels))


def _num_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('depth,paper_increase', [(50, 0.30), (101, 0.43),
                                                  (152, 0.56)])
def test_param_increase_matches_paper_table3(depth, paper_increase):
    """Table 3: RLA-ResNet adds 0.30M / 0.43M / 0.56M parameters."""
    rla = _classifier(dict(type='RLAResNet', depth=depth, out_indices=(3, ),
                           concat_hidden=True), 2048 + 32)
    plain = _classifier(dict(type='mmpretrain.ResNet', depth=depth), 2048)
    increase = (_num_params(rla) - _num_params(plain)) / 1e6
    assert abs(increase - paper_increase) <= 0.03, increase


def test_eca_adds_its_kernel_sizes_only():
    a, b = RLAResNet(50), RLAECAResNet(50)
    # one Conv1d(1, 1, k) per block, kernels (5, 5, 5, 7) per stage
    assert _num_params(b) - _num_params(a) == 3 * 5 + 4 * 5 + 6 * 5 + 3 * 7
    assert b.layer4[0].eca.conv.weight.shape == (1, 1, 7)


def test_every_parameter_gets_a_gradient():
    """DDP with find_unused_parameters=False needs this (detection mode too)."""
    for concat_hidden in (False, True):
        model = RLAResNet(18, concat_hidden=concat_hidden, **TINY).train()
        sum(o.sum() for o in model(torch.rand(2, 3, 64, 64))).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, missing
    # The unused last update is not built at all in detection mode.
    assert len(RLAResNet(18, **TINY).layer4.rla.norms) == 1
    assert len(RLAResNet(18, concat_hidden=True, **TINY).layer4.rla.norms) \
        == 2


def test_frozen_stages_include_rla():
    model = RLAResNet(18, frozen_stages=2, **TINY)
    model.train()
    frozen = ['conv1', 'bn1', 'layer1', 'layer2']
    for name, p in model.named_parameters():
        is_frozen = any(name.startswith(f + '.') for f in frozen)
        assert p.requires_grad != is_frozen, name
    assert not model.layer2.rla.norms[0].training
    assert not model.layer1.rla.recurrent_conv.weight.requires_grad
    assert model.layer3.rla.norms[0].training
    before = copy.deepcopy(model.layer1.rla.norms[0].state_dict())
    sum(o.sum() for o in model(torch.rand(2, 3, 64, 64))).backward()
    for name, p in model.named_parameters():
        assert (p.grad is None) == (not p.requires_grad), name
    after = model.layer1.rla.norms[0].state_dict()
    for k in before:
        torch.testing.assert_close(before[k], after[k])


def test_norm_eval_covers_rla_norms():
    model = RLAResNet(18, norm_eval=True, **TINY)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    stats = model.layer3.rla.norms[0].running_mean.clone()
    model(torch.rand(2, 3, 64, 64))
    torch.testing.assert_close(stats, model.layer3.rla.norms[0].running_mean)


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    ref = RLAResNet(18, zero_init_residual=False, **TINY)
    cp = RLAResNet(18, with_cp=True, **TINY)
    cp.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for model in (ref, cp):
        model.train()
        xi = x.clone().requires_grad_()
        outs = model(xi)
        sum((o * o).sum() for o in outs).backward()
        grads.append(([o.detach() for o in outs], xi.grad,
                      {n: p.grad for n, p in model.named_parameters()}))
    for a, b in zip(grads[0][0], grads[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(grads[0][1], grads[1][1])
    for n, g in grads[0][2].items():
        torch.testing.assert_close(g, grads[1][2][n], msg=n)


def test_syncbn_reaches_every_norm():
    from torch.nn import SyncBatchNorm
    plain = RLAResNet(50, concat_hidden=True)
    sync = RLAResNet(50, concat_hidden=True, norm_cfg=dict(type='SyncBN'))
    n_plain = sum(isinstance(m, _BatchNorm) for m in plain.modules())
    syncs = [m for m in sync.modules() if isinstance(m, _BatchNorm)]
    assert len(syncs) == n_plain
    assert all(isinstance(m, SyncBatchNorm) for m in syncs)
    gn = RLAResNet(18, norm_cfg=dict(type='GN', num_groups=8), **TINY)
    assert isinstance(gn.layer2.rla.norms[0], torch.nn.GroupNorm)


def test_zero_init_residual():
    model = RLAResNet(50)
    model.init_weights()
    assert torch.all(model.layer1[0].norm3.weight == 0)
    assert torch.all(model.layer1.rla.norms[0].weight == 1)


def test_amp_cpu_autocast():
    model = RLAResNet(18, **TINY).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.rand(1, 3, 65, 63))
    assert outs[-1].shape == (1, 128, 3, 2)


@pytest.mark.parametrize('kwargs,exc,word', [
    (dict(depth=42), ValueError, 'depth'),
    (dict(depth=18, rla_channel=0), ValueError, 'rla_channel'),
    # issue 12 item 8: slips that used to fail deep inside torch
    (dict(depth=18, rla_channel=True), ValueError, 'rla_channel'),
    (dict(depth=50, eca_kernel_sizes=5), ValueError, 'eca_kernel_sizes'),
    (dict(depth=18, out_indices=3), ValueError, 'out_indices'),
    (dict(depth=18, base_channels=0), ValueError, 'base_channels'),
    (dict(depth=18, norm_eval='yes'), ValueError, 'norm_eval'),
    (dict(depth=18, dcn=dict(type='DCNv2')), ValueError, 'dcn'),
    (dict(depth=34, plugins=[dict(cfg=dict(type='ContextBlock',
                                           ratio=1. / 16),
                                  position='after_conv2')]),
     ValueError, 'plugins'),
    (dict(depth=50, dcn=dict(type='DCNv2'), stage_with_dcn=(True, )),
     ValueError, 'stage_with_dcn'),
    (dict(depth=50, eca_kernel_sizes=(5, 5, 5)), ValueError,
     'eca_kernel_sizes'),
    (dict(depth=50, eca_kernel_sizes=(5, 5, 5, 4)), ValueError,
     'eca_kernel_sizes'),
    (dict(depth=18, out_indices=(4, )), ValueError, 'out_indices'),
    (dict(depth=18, frozen_stages=5), ValueError, 'frozen_stages'),
    (dict(depth=18, rla_source='input'), ValueError, 'rla_source'),
    (dict(depth=18, style='tf'), ValueError, 'style'),
    (dict(depth=18, num_stages=5), ValueError, 'num_stages'),
    (dict(depth=18, concat_hidden=True, out_indices=(2, )), ValueError,
     'out_indices'),
    (dict(depth=18, groups=32), ValueError, 'groups'),
])
def test_invalid_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        RLAResNet(**kwargs)
