"""RC backbones: RCNet (R_2^n / S_2^n) and RCResNet (R_4^m / S_4^m).

[RC-CA] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809
(Eq. 4, 6, 8, 10, Sec. 4, Alg. 1, Tables 1, 5); [RC-MC] Zhendong Zhang,
Cheolkon Jung, *Recurrent Convolutions: A Model Compression Point of View*,
NeurIPS 2018 Workshop CDNNRIA (App. A, Table 2). The step sampler and the
CIFAR configs in a Runner: tests/test_engine/test_rc_step_sampler.py.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from rla_mm.testing.reference_rc import rc_resnet_reference, rcnet_reference
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from rla_mm.models import AdjustableStepsMixin, RCNet, RCResNet

CFG_DIR = osp.join(REPO_ROOT, 'configs', 'rc')


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def randomize(model, seed=0):
    """Non-trivial BN affine params and running stats."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            for t, lo, hi in ((m.weight, .5, 1.5), (m.running_var, .5, 1.5)):
                t.data.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)
            for t in (m.bias, m.running_mean):
                t.data.copy_(torch.randn(t.shape, generator=g) * .2)
    return model


def build_cfg_model(name, **backbone):
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    cfg.model.backbone.update(backbone)
    if 'base_channels' in backbone:
        cfg.model.head.in_channels = 4 * backbone['base_channels']
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return MODELS.build(cfg.model), cfg


# ---------------------------------------------------------------- counts ---
# [RC-CA] Table 1 with GAP + 10-class linear head ([RC-MC] Table 2 agrees).
TABLE1 = [
    ('rcnet_r2-1_1xb128_cifar10.py', 1259082, 1.259),
    ('rcnet_r2-2_1xb128_cifar10.py', 1260362, 1.260),
    ('rcnet_r2-3_1xb128_cifar10.py', 1261642, 1.262),
    ('rcnet_r2-4_1xb128_cifar10.py', 1262922, 1.263),
    ('rcnet_s2-2_1xb128_cifar10.py', 2513738, 2.514),
    ('rcnet_s2-3_1xb128_cifar10.py', 3768394, 3.768),
    ('rcnet_s2-4_1xb128_cifar10.py', 5023050, 5.023),
    ('rcnet_s2-4-w0.5_1xb128_cifar10.py', 1258154, 1.258),
]


@pytest.mark.parametrize('name,exact,table', TABLE1)
def test_rcnet_parameter_counts_match_table1(name, exact, table):
    model, _ = build_cfg_model(name)
    assert n_params(model) == exact
    assert f'{n_params(model) / 1e6:.3f}' == f'{table:.3f}'


def test_rc_resnet_parameter_counts_match_table5():
    head = 512 * 100 + 100  # CIFAR-100 linear head
    # S_4^m: the standard pre-activation ResNet with 1 + m blocks per stage.
    for m, table in ((1, 11.217), (2, 17.488), (3, 23.759)):
        count = n_params(RCResNet(max_steps=m, share_weights=False)) + head
        assert f'{count / 1e6:.3f}' == f'{table:.3f}'
    assert n_params(RCResNet(max_steps=1, share_weights=False)) + head == \
        11217316
    # R_4: same convs as S_4^1 plus BN groups. Ours, with double BN (C_1: 3
    # groups, T_2..4: 3, C_2..4: 6) is 11.241M; the paper prints 11.250M
    # without saying how its groups are laid out (docs/rc.md).
    assert n_params(RCResNet(max_steps=3)) + head == 11224996
    assert n_params(RCResNet(max_steps=3, double_bn=True)) + head == 11241124


class GapLinearHead(torch.nn.Module):
    """The classifier of [RC-CA] Table 1: GAP + linear on the last output."""

    def __init__(self, backbone, num_classes=10):
        super().__init__()
        self.backbone = backbone
        self.fc = torch.nn.Linear(backbone.out_channels[-1], num_classes)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean(dim=(2, 3)))


# [RC-CA] Table 1 counts (GAP + 10-class linear head), built from `num_steps`
# alone: the architecture is R_2^n / S_2^n with n = num_steps
NUM_STEPS_ONLY = [
    (dict(num_steps=2, share_weights=False), 2513738),  # S_2^2
    (dict(num_steps=3, share_weights=False), 3768394),  # S_2^3
    (dict(num_steps=4, share_weights=False), 5023050),  # S_2^4
    (dict(num_steps=1), 1259082),  # R_2^1
    (dict(num_steps=2), 1260362),  # R_2^2
]


@pytest.mark.parametrize('kwargs,exact', NUM_STEPS_ONLY)
def test_rcnet_num_steps_alone_builds_that_many_steps(kwargs, exact):
    model = RCNet(**kwargs)
    assert model.max_steps == model.num_steps == kwargs['num_steps']
    assert n_params(GapLinearHead(model)) == exact


def test_rc_resnet_num_steps_alone_builds_that_many_steps():
    head = 512 * 100 + 100  # Table 5 counts with a CIFAR-100 head
    for m, table in ((1, 11.217), (2, 17.488), (3, 23.759)):
        model = RCResNet(num_steps=m, share_weights=False)
        assert model.max_steps == m
        assert f'{(n_params(model) + head) / 1e6:.3f}' == f'{table:.3f}'


@pytest.mark.parametrize('kwargs', [
    dict(type=RCNet, num_steps=2, share_weights=False),
    dict(type=RCNet, num_steps=3),
    dict(type=RCNet, num_steps=4, bn_mode='shared'),
    dict(type=RCResNet, num_steps=2, share_weights=False),
    dict(type=RCResNet, num_steps=3, stem_type='imagenet'),
])
def test_every_parameter_gets_a_gradient(kwargs):
    """What DDP with ``find_unused_parameters=False`` needs: one backward
    through a model built from ``num_steps`` alone reaches every parameter.
    (Double independent BN is for cost-adjustable models: the groups of the
    step counts not run in an iteration get no gradient by design.)"""
    kwargs = dict(kwargs)
    backbone = kwargs.pop('type')(base_channels=4, **kwargs)
    model = GapLinearHead(backbone).train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused


def test_cost_adjustable_models_still_choose_steps_at_run_time():
    """With ``max_steps`` given, ``num_steps`` only picks the steps that run:
    the parameters of the max_steps model, fewer steps unrolled."""
    full = RCNet(max_steps=4, base_channels=4, double_bn=True)
    model = RCNet(max_steps=4, num_steps=2, base_channels=4, double_bn=True)
    assert isinstance(model, AdjustableStepsMixin)
    assert (model.max_steps, model.num_steps) == (4, 2)
    assert n_params(model) == n_params(full)
    model.set_num_steps(3)
    assert model.cell_steps == (3, 3)
    resnet = RCResNet(max_steps=3, num_steps=(1, 2, 3, 1), base_channels=4)
    assert resnet.num_steps == (1, 2, 3, 1)
    with pytest.raises(ValueError, match='also give `max_steps`'):
        RCResNet(num_steps=(1, 2, 3, 1))


# ---------------------------------------------------------------- shapes ---
@pytest.mark.parametrize('steps', [1, 2, 3, 4])
def test_rcnet_shapes(steps):
    model = RCNet(max_steps=4, num_steps=steps, base_channels=4,
                  out_indices=(0, 1)).eval()
    outs = model(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 4, 16, 16), (2, 16, 4, 4)]
    with pytest.raises(ValueError, match='multiple of 4'):
        model(torch.rand(1, 3, 30, 30))


def test_rc_resnet_shapes():
    cifar = RCResNet(base_channels=4, out_indices=(0, 1, 2, 3)).eval()
    assert [tuple(o.shape) for o in cifar(torch.rand(1, 3, 32, 32))] == \
        [(1, 4, 32, 32), (1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 4, 4)]
    det = RCResNet(stem_type='imagenet', base_channels=4, max_steps=3,
                   num_steps=1, out_indices=(1, 3)).eval()
    assert [tuple(o.shape) for o in det(torch.rand(1, 3, 97, 131))] == \
        [(1, 8, 13, 17), (1, 32, 4, 5)]
    assert det.out_channels == (8, 32)


# ------------------------------------------------- equality to reference ---
RCNET_CASES = [
    dict(share_weights=True, bn_mode='independent'),
    dict(share_weights=False, bn_mode='independent'),
    dict(share_weights=True, bn_mode='shared'),
    dict(share_weights=True, bn_mode='none'),
    dict(share_weights=True, bn_mode='independent', double_bn=True),
]


@pytest.mark.parametrize('training', [False, True])
@pytest.mark.parametrize('case', RCNET_CASES)
@pytest.mark.parametrize('steps', [1, 2, 3, 4])
def test_rcnet_matches_plain_reference(case, steps, training):
    torch.manual_seed(0)
    model = randomize(RCNet(max_steps=4, base_channels=3, out_indices=(0, 1),
                            **case)).train(training)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    model.set_num_steps(steps)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        outs = model(x)
    ref, trace = rcnet_reference(x, sd, [steps, steps], max_steps=4,
                                 training=training, **case)
    for out, expected in zip(outs, ref):
        torch.testing.assert_close(out, expected)
    # the running statistics moved exactly as in the reference
    for key, value in model.state_dict().items():
        if 'running' in key:
            torch.testing.assert_close(value, trace['state_dict'][key])


@pytest.mark.parametrize('steps', [(2, 4), (3, 1), (4, 4)])
def test_rcnet_per_cell_steps_match_reference(steps):
    case = dict(double_bn=True, unified_steps=False)
    model = randomize(RCNet(max_steps=4, base_channels=3, num_steps=steps,
                            **case)).eval()
    assert model.num_steps == (steps if steps[0] != steps[1] else steps[0])
    x = torch.randn(2, 3, 16, 16)
    ref, _ = rcnet_reference(x, model.state_dict(), list(steps), max_steps=4,
                             **case)
    torch.testing.assert_close(model(x)[0], ref[-1])
    unified = RCNet(max_steps=4, base_channels=3, double_bn=True)
    with pytest.raises(ValueError, match='unified_steps=False'):
        unified.set_num_steps([2, 4])


@pytest.mark.parametrize('training', [False, True])
@pytest.mark.parametrize('stem_type,double_bn,share', [
    ('cifar', False, True), ('cifar', True, True), ('imagenet', True, True),
    ('imagenet', False, False)])
@pytest.mark.parametrize('steps', [1, 3])
def test_rc_resnet_matches_plain_reference(stem_type, double_bn, share, steps,
                                           training):
    model = randomize(
        RCResNet(max_steps=3, num_steps=steps, stem_type=stem_type,
                 base_channels=3, double_bn=double_bn, share_weights=share,
                 out_indices=(0, 1, 2, 3))).train(training)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 35, 29)
    with torch.no_grad():
        outs = model(x)
    ref, trace = rc_resnet_reference(
        x, sd, [steps] * 4, max_steps=3, stem_type=stem_type,
        share_weights=share, double_bn=double_bn, training=training)
    for out, expected in zip(outs, ref):
        torch.testing.assert_close(out, expected)
    for key, value in model.state_dict().items():
        if 'running' in key:
            torch.testing.assert_close(value, trace['state_dict'][key])


# ------------------------------------------------------ BN independence ---
def test_independent_bn_keeps_per_step_statistics():
    model = randomize(RCNet(max_steps=4, base_channels=3)).train()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        model(x)
    _, trace = rcnet_reference(x, sd, [4, 4], max_steps=4, training=True)
    means = []
    for k in range(1, 5):
        step_input = trace['inputs'][('cells.0', k)]
        bn = model.cells[0].norms[k - 1][0]
        expected = 0.9 * sd[f'cells.0.norms.{k - 1}.0.running_mean'] + \
            0.1 * step_input.mean(dim=(0, 2, 3))
        torch.testing.assert_close(bn.running_mean, expected)
        assert bn.num_batches_tracked.item() == 1
        means.append(bn.running_mean)
    # the steps really see different statistics ([RC-MC] Fig. 1(b))
    assert min((means[a] - means[b]).abs().max().item()
               for a in range(4) for b in range(a + 1, 4)) > 1e-3


def test_shared_bn_merges_the_steps():
    model = RCNet(max_steps=4, base_channels=3, bn_mode='shared').train()
    with torch.no_grad():
        model(torch.randn(4, 3, 16, 16))
    assert len(model.cells[0].shared_norms) == 1
    assert model.cells[0].shared_norms[0][0].num_batches_tracked.item() == 4


def test_double_bn_group_is_used_only_by_its_step_pair():
    """Group (t=2, k=2) of cell 2 serves only runs with 2 unified steps."""
    model = randomize(RCNet(max_steps=4, base_channels=3,
                            double_bn=True)).eval()
    x = torch.randn(2, 3, 16, 16)
    before = {}
    for t in (1, 2, 3, 4):
        model.set_num_steps(t)
        before[t] = model(x)[0]
    norms = model.cells[1].norms
    norms.group(2, 2)[0].running_mean.add_(5.0)
    for t in (1, 2, 3, 4):
        model.set_num_steps(t)
        changed = not torch.allclose(model(x)[0], before[t])
        assert changed == (t == 2), t


# ---------------------------------------------------------- arguments ---
def test_bad_arguments_raise_early():
    with pytest.raises(ValueError, match='bn_mode'):
        RCNet(bn_mode='group')
    with pytest.raises(ValueError, match='double_bn'):
        RCNet(bn_mode='shared', double_bn=True)
    with pytest.raises(ValueError, match='num_steps'):
        RCNet(max_steps=2, num_steps=3)
    with pytest.raises(ValueError, match='out_indices'):
        RCResNet(out_indices=(4, ))
    with pytest.raises(ValueError, match='stem_type'):
        RCResNet(stem_type='deep')
    with pytest.raises(ValueError, match='frozen_stages'):
        RCResNet(frozen_stages=5)
    with pytest.raises(ValueError, match='strides'):
        RCResNet(strides=(1, 2, 2))
    with pytest.raises(ValueError, match='num_stages'):
        RCResNet(num_stages=5)


# ----------------------------------------------- frozen stages, norm_eval ---
def test_rc_resnet_frozen_stages_and_norm_eval():
    model = RCResNet(base_channels=4, frozen_stages=2, max_steps=2,
                     double_bn=True, out_indices=(3, ))
    model.train()
    frozen = [model.stem, model.transitions[0], model.cells[0],
              model.transitions[1], model.cells[1]]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.5)
    model(torch.rand(2, 3, 16, 16))[0].sum().backward()
    opt.step()
    after = model.state_dict()
    for m in frozen:
        assert not any(p.requires_grad for p in m.parameters())
        assert not any(b.training for b in m.modules()
                       if isinstance(b, _BatchNorm))
    prefixes = ('stem.', 'transitions.0.', 'cells.0.', 'transitions.1.',
                'cells.1.')
    for k, v in before.items():
        if k.startswith(prefixes):  # weights and running stats
            assert torch.equal(v, after[k]), k
    assert not torch.equal(before['cells.3.shared_convs.0.weight'],
                           after['cells.3.shared_convs.0.weight'])
    model = RCResNet(base_channels=4, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)  # norm_eval


# --------------------------------------------------- configs, training ---
def test_shared_params_get_half_the_lr_and_grads_are_clipped():
    for name, num_shared in (('rcnet_r2-4_1xb128_cifar10.py', 4),
                             ('rcnet_r2-4-sharedbn_1xb128_cifar10.py', 12),
                             ('rcnet_s2-4_1xb128_cifar10.py', 0),
                             ('rcnet_r2-1_1xb128_cifar10.py', 0)):
        model, cfg = build_cfg_model(name, base_channels=2)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        groups = wrapper.optimizer.param_groups
        half = [g for g in groups if g['lr'] == pytest.approx(0.05)]
        assert len(half) == num_shared, name
        assert len(half) + sum(g['lr'] == pytest.approx(0.1)
                               for g in groups) == len(groups)
        assert wrapper.clip_func is torch.nn.utils.clip_grad_value_
    cfg = Config.fromfile(osp.join(CFG_DIR, 'faster_rcnn_rc_resnet_demo.py'))
    init_default_scope('mmdet')
    wrapper = build_optim_wrapper(MODELS.build(cfg.model), cfg.optim_wrapper)
    half = [g for g in wrapper.optimizer.param_groups
            if g['lr'] == pytest.approx(1e-3)]
    assert len(half) == 8  # 4 cells x 2 shared convs; not the RoI shared_fcs


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model, _ = build_cfg_model('rcnet_r2-4_1xb128_cifar10.py',
                               base_channels=8)
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(
            model.head.fc(model.neck(model.backbone(x))[-1]), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 0.1)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ------------------------------------------------------------ detection ---
def test_rc_detector_compute_is_chosen_at_test_time():
    from mmengine.analysis import FlopAnalyzer
    cfg = Config.fromfile(osp.join(CFG_DIR, 'faster_rcnn_rc_resnet_demo.py'))
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model).eval()
    x = torch.rand(1, 3, 64, 64)
    flops = {}
    for t in (1, 2, 3):
        detector.backbone.set_num_steps(t)
        with torch.no_grad():
            feats = detector.extract_feat(x)
        assert [f.shape[-1] for f in feats] == [16, 8, 4, 2, 1]
        flops[t] = FlopAnalyzer(detector.backbone, x).unsupported_ops_warnings(
            False).uncalled_modules_warnings(False).total()
    # every extra step adds the same conv + BN work in each stage
    assert flops[1] < flops[2] < flops[3]
    assert flops[3] - flops[2] == flops[2] - flops[1]
