"""Xception / RLA-Xception for CIFAR (RLA paper App. B.1 "RLA-Xception for
CIFAR", Table 2; ``rla_mm/models/backbones/rla_xception.py``)."""
import hashlib
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from rla_mm.models import RLAXceptionCIFAR, XceptionCIFAR
from rla_mm.testing.norms import randomize_bn

# the exact parameter counts of the four configs' classifiers (Table 2:
# 2.70M / 2.75M, RLA +0.07M / +0.06M as differences of rounded totals)
COUNTS = {
    'xception_cifar10.py': 2_701_882,
    'xception_cifar100.py': 2_748_052,
    'rla_xception_cifar10.py': 2_765_797,
    'rla_xception_cifar100.py': 2_813_317,
}


def _n(module):
    return sum(p.numel() for p in module.parameters())


def _build(cfg_model):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(ConfigDict(cfg_model))


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def _closed_form(k, classes):
    """The count of the module docstring's network written out by hand:
    stem, 3 entry blocks, 8 middle blocks, the exit block and its two
    separable convs, classifier; with RLA: k more channels into every
    block's first separable conv (depthwise 9k, pointwise k x width), four
    projections (one per width group: 64, 128, 256, 512), three recurrent
    3x3 convs (one per resolution stage), 12 BNs of h and the head BN."""
    def sep(cin, cout):  # depthwise + pointwise + BN
        return 9 * cin + cin * cout + 2 * cout

    n = 27 * 16 + 2 * 16 + 9 * 16 * 32 + 2 * 32
    blocks = [(32, 64, 64), (64, 128, 128), (128, 256, 256)]  # entry
    for cin, mid, cout in blocks:
        n += sep(cin, mid) + sep(mid, cout) + cin * cout + 2 * cout
    n += 8 * 3 * sep(256, 256)
    n += sep(256, 256) + sep(256, 512) + 256 * 512 + 2 * 512  # exit block
    n += sep(512, 512) + sep(512, 512) + (512 + k + 1) * classes
    if k:
        firsts = [64, 128, 256] + [256] * 8 + [256]  # first sep conv widths
        n += sum(9 * k + k * width for width in firsts)
        n += k * (64 + 128 + 256 + 512) + 3 * 9 * k * k + 12 * 2 * k + 2 * k
    return n


@pytest.mark.parametrize('name', sorted(COUNTS))
def test_configs_have_table2_parameter_counts(name):
    cfg = _cfg(name)
    model = _build(cfg.model)
    classes = 100 if 'cifar100' in name else 10
    k = cfg.model.backbone.get('rla_channel', 0)
    assert k == (15 if name.startswith('rla') else 0)
    assert _n(model) == COUNTS[name] == _closed_form(k, classes)


@pytest.mark.parametrize('name', sorted(COUNTS))
def test_configs_keep_the_cifar_schedule_and_protocol(name):
    """App. B.1: the Xception configs are the RLA-ResNet CIFAR configs
    (Nesterov SGD, 300 epochs, lr 0.1 / 10 at 150 and 225, batch 128, the
    45k / 5k split, best epoch on the 5k) with another backbone and head
    width, nothing else."""
    dataset = 'cifar100' if 'cifar100' in name else 'cifar10'
    got = _cfg(name).to_dict()
    want = _cfg(f'rla_resnet110_{dataset}.py').to_dict()
    for cfg in (got, want):
        cfg.pop('rla_channel')
        cfg['model'].pop('backbone')
        cfg['model']['head'].pop('in_channels')
    assert got == want
    opt = _cfg(name).optim_wrapper.optimizer
    assert (opt.lr, opt.momentum, opt.nesterov) == (0.1, 0.9, True)


def test_counts_round_to_table2():
    m = {n: round(c / 1e6, 2) for n, c in COUNTS.items()}
    assert (m['xception_cifar10.py'], m['xception_cifar100.py']) == \
        (2.70, 2.75)
    # "+0.07M" / "+0.06M": the differences of the rounded totals (exactly
    # the RLA module adds 63,915 / 65,265 parameters)
    assert round(m['rla_xception_cifar10.py'] -
                 m['xception_cifar10.py'], 2) == 0.07
    assert round(m['rla_xception_cifar100.py'] -
                 m['xception_cifar100.py'], 2) == 0.06
    # k = 16 would give +0.07M on CIFAR-100 too (2.82M)
    assert round(_closed_form(16, 100) / 1e6, 2) == 2.82


def test_structure_follows_the_docstring():
    model = RLAXceptionCIFAR(rla_channel=4)
    assert model.num_stages == 3
    assert model.layers == ['layer1', 'layer2', 'layer3', 'layer4']
    assert model.layer_stages == [0, 0, 1, 2]
    assert [len(getattr(model, n)) for n in model.layers] == [1, 1, 9, 1]
    assert len(model.recurrent_convs) == 3
    for name, stage in zip(model.layers, model.layer_stages):
        layer = getattr(model, name)
        # the stage's recurrent conv is shared by its groups
        assert layer.rla.recurrent_conv is model.recurrent_convs[stage]
        assert len(layer.rla.norms) == len(layer)
    # every block's first separable conv reads cat(x, h): x channels + k
    x_channels = [32, 64, 128] + [256] * 9
    blocks = [b for n in model.layers for b in getattr(model, n)]
    assert [b.convs[0].depthwise_conv.weight.shape[0] for b in blocks] == \
        [c + 4 for c in x_channels]
    assert [b.convs[0].pointwise_conv.weight.shape[1] for b in blocks] == \
        [c + 4 for c in x_channels]
    assert all(c.depthwise_conv.weight.shape[0] ==
               c.pointwise_conv.weight.shape[1] for b in blocks
               for c in b.convs[1:])
    blk = model.layer3[0]  # entry block 3: 128 + k -> 256, stride 2
    assert blk.convs[0].depthwise_conv.weight.shape == (132, 1, 3, 3)
    assert blk.convs[0].pointwise_conv.weight.shape == (256, 132, 1, 1)
    assert isinstance(blk.pool, torch.nn.AvgPool2d) and blk.stride == 2
    assert blk.shortcut[0].stride == (2, 2)
    assert model.layer3[1].shortcut is None and model.layer3[1].pool is None
    assert len(model.layer3[1].convs) == 3
    assert not model.layer1[0].start_with_relu
    assert all(b.start_with_relu for n in model.layers[1:]
               for b in getattr(model, n))
    plain = XceptionCIFAR()
    assert len(plain.recurrent_convs) == 0 and plain.hidden_norm is None
    assert all(getattr(plain, n).rla is None for n in plain.layers)
    assert plain.layer3[0].convs[0].depthwise_conv.weight.shape[0] == 128


def test_state_dict_layout_is_pinned():
    """Key names and shapes of the default RLA-Xception (k = 15): stem
    ``conv{1,2}.{conv,bn}``; ``layer{g}.{j}.convs.{i}.{depthwise_conv,
    pointwise_conv,norm}``, ``.shortcut.{0,1}``; ``layer{g}.rla.conv_out``,
    ``.norms.{j}``; ``recurrent_convs.{s}``; ``exit_convs.{i}``;
    ``hidden_norm``. Changing any breaks converted or trained checkpoints."""
    sd = RLAXceptionCIFAR().state_dict()
    layout = [(k, list(v.shape)) for k, v in sd.items()]
    assert len(layout) == 346
    assert hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16] == \
        '039468604cad00dc'
    shapes = dict(layout)
    assert shapes['layer3.0.convs.0.depthwise_conv.weight'] == [143, 1, 3, 3]
    assert shapes['layer3.rla.conv_out.weight'] == [15, 256, 1, 1]
    assert shapes['recurrent_convs.1.weight'] == [15, 15, 3, 3]
    assert shapes['layer4.0.shortcut.0.weight'] == [512, 256, 1, 1]
    assert 'layer3.rla.recurrent_conv.weight' not in shapes  # the stage's


@pytest.mark.parametrize('size', [(32, 32), (33, 35), (7, 10)])
def test_shapes_on_even_and_odd_inputs(size):
    x = torch.rand(2, 3, *size)
    h, w = size
    half = ((h + 1) // 2, (w + 1) // 2)
    quarter = ((half[0] + 1) // 2, (half[1] + 1) // 2)
    for model, last in ((RLAXceptionCIFAR(rla_channel=4,
                                          out_indices=(0, 1, 2)), 516),
                        (XceptionCIFAR(out_indices=(0, 1, 2)), 512)):
        with torch.no_grad():
            outs = model.eval()(x)
        assert [tuple(o.shape) for o in outs] == [
            (2, 128, h, w), (2, 256) + half, (2, last) + quarter]


# ----------------------------------------------- float64 reference forward
def _bn(x, sd, key):
    return F.batch_norm(x, sd[f'{key}.running_mean'],
                        sd[f'{key}.running_var'], sd[f'{key}.weight'],
                        sd[f'{key}.bias'], False, 0., 1e-5)


def _sep(x, sd, key):
    x = F.conv2d(x, sd[f'{key}.depthwise_conv.weight'], padding=1,
                 groups=x.shape[1])
    return _bn(F.conv2d(x, sd[f'{key}.pointwise_conv.weight']), sd,
               f'{key}.norm')


def reference_forward(sd, x, k):
    """The network of the module docstring from its state dict, written
    block by block in plain torch (eval-mode BN): h starts as real zeros,
    every block reads ReLU(cat(x, h)) (the first block cat(x, h)), h is
    pooled 2x2 at strided blocks and then updated with the block output."""
    x = F.relu(_bn(F.conv2d(x, sd['conv1.conv.weight'], padding=1), sd,
                   'conv1.bn'))
    x = F.relu(_bn(F.conv2d(x, sd['conv2.conv.weight'], padding=1), sd,
                   'conv2.bn'))
    # (group, index in group, stage, stride, number of separable convs)
    plan = [(1, 0, 0, 1, 2), (2, 0, 0, 1, 2), (3, 0, 1, 2, 2)]
    plan += [(3, j, 1, 1, 3) for j in range(1, 9)] + [(4, 0, 2, 2, 2)]
    h = torch.zeros(x.shape[0], k, *x.shape[2:], dtype=x.dtype)
    for n, (g, j, stage, stride, convs) in enumerate(plan):
        key = f'layer{g}.{j}'
        out = torch.cat([x, h], 1) if k else x
        for i in range(convs):
            if n or i:
                out = F.relu(out)
            out = _sep(out, sd, f'{key}.convs.{i}')
        if stride == 2:
            out = F.avg_pool2d(out, 3, 2, 1, count_include_pad=False)
        skip = x
        if f'{key}.shortcut.0.weight' in sd:
            skip = _bn(F.conv2d(x, sd[f'{key}.shortcut.0.weight'],
                                stride=stride), sd, f'{key}.shortcut.1')
        x = out + skip
        if k:
            if stride == 2:
                h = F.avg_pool2d(h, 2, 2, ceil_mode=True,
                                 count_include_pad=False)
            z = h + F.conv2d(x, sd[f'layer{g}.rla.conv_out.weight'])
            z = torch.tanh(_bn(z, sd, f'layer{g}.rla.norms.{j}'))
            h = F.conv2d(z, sd[f'recurrent_convs.{stage}.weight'], padding=1)
    for i in (0, 1):
        x = F.relu(_sep(x, sd, f'exit_convs.{i}'))
    if k:
        x = torch.cat([x, F.relu(_bn(h, sd, 'hidden_norm'))], 1)
    return x


@pytest.mark.parametrize('k', [0, 4])
@pytest.mark.parametrize('size', [(16, 16), (9, 13)])
def test_forward_equals_the_float64_reference(k, size):
    cls = RLAXceptionCIFAR if k else XceptionCIFAR
    model = cls(stem_channels=(4, 8), entry_channels=(8, 12, 16),
                exit_channels=(24, 24, 24), **(dict(rla_channel=k)
                                               if k else {}))
    model = randomize_bn(model).double().eval()  # convs: torch's init
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        (got, ) = model(x)
        want = reference_forward(model.state_dict(), x, k)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- detection
def _assert_every_parameter_gets_a_gradient(model, x):
    model.train()
    sum(o.sum() for o in model(x)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize('out_indices', [(0, 1, 2), (2, ), (0, 1), (0, )])
def test_detection_mode_builds_only_what_is_read(out_indices):
    model = RLAXceptionCIFAR(rla_channel=4, concat_hidden=False,
                             out_indices=out_indices,
                             stem_channels=(4, 8),
                             entry_channels=(8, 12, 16),
                             exit_channels=(24, 24, 24))
    last = max(out_indices)
    built_layers = {0: 2, 1: 3, 2: 4}[last]
    assert len(model.layers) == built_layers
    # the last built block's update feeds nothing: not built
    last_layer = getattr(model, model.layers[-1])
    assert last_layer.num_updates == len(last_layer) - 1
    if last == 2:  # the exit block is alone in its stage: no unit at all
        assert last_layer.rla is None and len(model.recurrent_convs) == 2
    assert (model.exit_convs is not None) == (last == 2)
    assert model.hidden_norm is None
    _assert_every_parameter_gets_a_gradient(model, torch.rand(2, 3, 9, 11))


def test_classification_mode_gives_every_parameter_a_gradient():
    model = RLAXceptionCIFAR(rla_channel=4, stem_channels=(4, 8),
                             entry_channels=(8, 12, 16),
                             exit_channels=(24, 24, 24))
    _assert_every_parameter_gets_a_gradient(model, torch.rand(2, 3, 8, 8))


# --------------------------------------------------- frozen stages, norms
@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 3])
def test_frozen_stages(frozen_stages):
    model = RLAXceptionCIFAR(rla_channel=4, frozen_stages=frozen_stages)
    model.train()
    frozen = {'conv1', 'conv2'}
    for name, stage in zip(model.layers, model.layer_stages):
        if stage < frozen_stages:
            frozen.add(name)
    frozen |= {f'recurrent_convs.{s}' for s in range(frozen_stages)}
    if frozen_stages == 3:
        frozen |= {'exit_convs', 'hidden_norm'}
    for name, param in model.named_parameters():
        is_frozen = any(name.startswith(f + '.') for f in frozen)
        assert param.requires_grad != is_frozen, name
    for name, m in model.named_modules():
        if isinstance(m, _BatchNorm):
            is_frozen = any(name == f or name.startswith(f + '.')
                            for f in frozen)
            assert m.training != is_frozen, name


def test_norm_eval_keeps_every_bn_in_eval_mode():
    model = RLAXceptionCIFAR(rla_channel=4, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) > 50 and not any(m.training for m in bns)
    assert model.layer3.training  # the rest trains


def test_with_cp_gives_the_same_outputs_and_gradients():
    kwargs = dict(rla_channel=4, stem_channels=(4, 8),
                  entry_channels=(8, 12, 16), exit_channels=(24, 24, 24))
    torch.manual_seed(0)
    plain = RLAXceptionCIFAR(**kwargs)
    cp = RLAXceptionCIFAR(with_cp=True, **kwargs)
    cp.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 8, 8)
    outs = []
    for model in (plain, cp):
        (out, ) = model.train()(x)
        out.square().sum().backward()
        outs.append((out, [p.grad for p in model.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize('kwargs,match', [
    (dict(rla_channel=-1), '`rla_channel` must be an int >= 0'),
    (dict(rla_channel=0), '`concat_hidden=True` needs `rla_channel`'),
    (dict(strides=(1, 1, 3, 2)), '`strides` must be 4 values in'),
    (dict(strides=(1, 2)), '`strides` must be a sequence of 4'),
    (dict(entry_channels=(64, 128)), '`entry_channels` must be a sequence'),
    (dict(out_indices=(0, 1)), '`out_indices` must contain 2'),
    (dict(out_indices=(3, )), '`out_indices` must be a non-empty'),
    (dict(frozen_stages=4), '`frozen_stages` must be an int in'),
    (dict(num_middle_blocks=-1), '`num_middle_blocks` must be an int'),
    (dict(concat_hidden=1), '`concat_hidden` must be one of'),
])
def test_bad_arguments_raise_named_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RLAXceptionCIFAR(**kwargs)


@pytest.mark.parametrize('name', ['rla_channel', 'concat_hidden'])
def test_the_plain_network_refuses_rla_arguments(name):
    with pytest.raises(ValueError, match=f'`{name}` is not an argument'):
        XceptionCIFAR(**{name: 4})


# -------------------------------------------- one step through the Runner
@pytest.mark.slow
@pytest.mark.parametrize('name,dataset', [
    ('rla_xception_cifar10.py', 'cifar10'),
    ('xception_cifar100.py', 'cifar100'),
])
def test_config_trains_through_mmpretrain_runner(name, dataset, tmp_path):
    """The config, on a tiny CIFAR stand-in read by mmpretrain's own CIFAR
    class, trains (2 iterations of batch 4) and tests in mmengine's
    Runner."""
    import math

    from mmengine.runner import Runner

    from rla_mm.testing.cifar_stand_in import (make_cifar_stand_in,
                                               stand_in_run_cfg)
    data_root, dataset_type = make_cifar_stand_in(tmp_path / 'data', dataset)
    cfg = stand_in_run_cfg(_cfg(name), data_root, dataset_type,
                           tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert runner.iter == 2
    assert math.isfinite(
        runner.message_hub.get_scalar('train/loss').current())
    after = runner.model.state_dict()
    assert not torch.equal(before['backbone.layer3.0.convs.0.'
                                  'pointwise_conv.weight'],
                           after['backbone.layer3.0.convs.0.'
                                 'pointwise_conv.weight'])
    assert 0 <= runner.test()['accuracy/top1'] <= 100
