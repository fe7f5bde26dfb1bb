"""RecNet (RecNets Table 1 right, Tables 2-3), CSRVGG and CSRResNet
(CSR-Conv paper Tables 1-2), and their CIFAR configs."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner
from mmpretrain.datasets import CIFAR100
from mmpretrain.registry import DATASETS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from rla_mm.testing.cifar_stand_in import make_cifar_stand_in, stand_in_run_cfg
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from rla_mm.models import (CSRVGG, RECNET_ARCHS, CSRResNet, CSRResNetCIFAR,
                           RecNet)
from rla_mm.models.layers import CSRConv

RECNET_CFG = osp.join(REPO_ROOT, 'configs', 'recnet')
CSR_CFG = osp.join(REPO_ROOT, 'configs', 'csr_conv')


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def n_weights(model):
    """Conv and linear weights only: how the CSR-Conv paper counts."""
    return sum(p.numel() for p in model.parameters() if p.dim() > 1)


def build_cfg_model(path, **backbone):
    cfg = Config.fromfile(path)
    cfg.model.backbone.update(backbone)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return MODELS.build(cfg.model), cfg


# ------------------------------------------------------------- RecNet ---
def recnet_closed_form(e, s, d, k_x=3, k_h=3, num_classes=100):
    """Table 1 (right) counted by hand: stem, six Recurrent modules (CRC
    weights + one BN per step, TB 1x1 weights + BN), linear classifier."""
    w = [si * di for si, di in zip(s, d)]
    total = 3 * w[0] * 9 + 2 * w[0]
    for si, di, c_in, c_out in ((s[0], d[0], w[0], w[0]),
                                (s[0], d[0], w[0], w[1]),
                                (s[1], d[1], w[1], w[1]),
                                (s[1], d[1], w[1], w[2]),
                                (s[2], d[2], w[2], w[2]),
                                (s[2], d[2], w[2], w[2])):
        s_out = e * si
        total += (si * k_x**2 + s_out * k_h**2) * s_out + 2 * s_out * di
        total += e * c_in * c_out + 2 * c_out
    return total + w[2] * num_classes + num_classes


# name, paper #params (K) of Table 3
TABLE3 = [('60-640', 471), ('90-960', 863), ('120-1280', 1406),
          ('60-1280', 1769), ('90-1920', 3306), ('120-2560', 5444),
          ('60-480', 316), ('90-640', 537), ('120-960', 930),
          ('60-960', 1137), ('90-1280', 2028), ('120-1920', 3569)]


@pytest.mark.parametrize('name,paper_k', TABLE3)
def test_table3_configs_count_what_table1_describes(name, paper_k):
    """Our count is Table 1's architecture exactly. The paper's totals are
    larger by an amount that depends on S3 d3 only (docs/recnet.md)."""
    model, _ = build_cfg_model(
        osp.join(RECNET_CFG, f'recnet-{name}_1xb64_cifar100.py'))
    e, s, d = RECNET_ARCHS[name]
    assert n_params(model) == recnet_closed_form(e, s, d)
    depth, width = (int(v) for v in name.split('-'))
    # depth: the CRC steps of all six Recurrent modules, 2 (d1 + d2 + d3)
    assert depth == 2 * sum(d) and width == e * max(
        si * di for si, di in zip(s, d))
    assert model.head.fc.in_features == s[2] * d[2]


def test_table2_differences_are_exact():
    """Table 2(c): W_h 1x1 removes 1,769K - 1,425K = 344K, W_x 1x1 removes
    1,769K - 1,683K = 86K; Table 2(b): e = 1, 2, 4, 8 differ by 400K, 945K,
    2,470K. Our differences round to exactly these."""
    default = n_params(RecNet())
    assert default == 1701040  # + head: 1,733,140 (C-100), 1,704,250 (C-10)
    assert round((default - n_params(RecNet(kernel_size_h=1))) / 1e3) == 344
    assert round((default - n_params(RecNet(kernel_size_x=1))) / 1e3) == 86
    assert default - n_params(RecNet(kernel_size_h=1)) == 344064
    assert default - n_params(RecNet(kernel_size_x=1)) == 86016
    by_e = [n_params(RecNet(expansion=e)) for e in (1, 2, 4, 8)]
    assert [round((b - a) / 1e3) for a, b in zip(by_e, by_e[1:])] == \
        [400, 945, 2470]


def test_recnet_shapes_and_stage_widths():
    model = RecNet(arch='60-480', out_indices=(0, 1, 2)).eval()
    outs = model(torch.rand(2, 3, 32, 32))
    # RecNet(4, 8, 8, 8, 5, 10, 15): S_i d_i = 40, 80, 120
    assert [tuple(o.shape) for o in outs] == [(2, 80, 32, 32),
                                              (2, 120, 16, 16),
                                              (2, 120, 8, 8)]
    assert model.out_channels == (80, 120, 120)
    crc = model.layer3[0].crc
    assert (crc.num_steps, crc.seg_in, crc.seg_out) == (15, 8, 32)
    assert model.num_steps == (5, 10, 15)


def test_merged_recnet_equals_plain_recnet():
    torch.manual_seed(0)
    kwargs = dict(expansion=2, seg_channels=(2, 3, 2), num_steps=(2, 2, 3))
    plain = RecNet(**kwargs).double()
    merged = RecNet(merged=True, **kwargs).double()
    merged.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16, dtype=torch.double)
    torch.testing.assert_close(merged(x), plain(x))


def test_recnet_frozen_stages_stay_frozen():
    model = RecNet(expansion=2, seg_channels=(2, 2, 2),
                   num_steps=(2, 2, 2), frozen_stages=1)
    model.train()
    frozen = [model.stem, model.layer1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for f in frozen for m in f.modules())
    assert all(p.requires_grad for p in model.layer2.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.1)
    model(torch.randn(4, 3, 16, 16))[0].sum().backward()
    opt.step()
    after = model.state_dict()
    for key in before:
        changed = not torch.equal(before[key], after[key])
        assert changed == (key.startswith('layer2') or
                           key.startswith('layer3')), key


def test_recnet_norm_eval():
    model = RecNet(expansion=2, seg_channels=(2, 2, 2),
                   num_steps=(2, 2, 2), norm_eval=True).train()
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def test_recnet_bad_arguments():
    with pytest.raises(ValueError, match='`arch` must be one of'):
        RecNet(arch='60-9999')
    with pytest.raises(ValueError, match='either `arch`'):
        RecNet(arch='60-640', expansion=2)
    with pytest.raises(ValueError, match='`seg_channels` must be a sequence '
                       'of 3 ints'):
        RecNet(seg_channels=(8, 16))
    with pytest.raises(ValueError, match='`num_steps` must be a sequence of '
                       '3 ints'):
        RecNet(num_steps=(10, 0, 10))
    with pytest.raises(ValueError, match='`out_indices`'):
        RecNet(out_indices=(3, ))
    with pytest.raises(ValueError, match='`frozen_stages`'):
        RecNet(frozen_stages=4)
    with pytest.raises(ValueError, match='give `num_steps` only'):
        RecNet(num_steps=(2, 2, 2), num_segments=(2, 2, 2))


def test_recnet_num_segments_still_builds_the_same_network():
    """``num_segments`` (the name before ``num_steps``) is a deprecated alias:
    the e1/e2/e8 configs written with it build the same state dict."""
    kwargs = dict(expansion=2, seg_channels=(2, 2, 2))
    with pytest.warns(FutureWarning, match='`num_segments` is deprecated'):
        old = RecNet(num_segments=(2, 3, 2), **kwargs)
    new = RecNet(num_steps=(2, 3, 2), **kwargs)
    assert old.num_steps == new.num_steps == (2, 3, 2)
    assert {k: v.shape for k, v in old.state_dict().items()} == \
        {k: v.shape for k, v in new.state_dict().items()}


def test_recnet_builds_from_mmpretrain():
    model = MMPRETRAIN_MODELS.build(dict(type='RecNet', arch='60-640'))
    assert isinstance(model, RecNet)


# ------------------------------------------------------------- CSRVGG ---
def test_csr_vgg_layers_match_table1():
    """Per-layer weights of Table 1 (Conv8: 143,685; the table's 134,685 is
    contradicted by its own shapes), the FC from the config's head, and the
    totals of Tables 1-2."""
    model, _ = build_cfg_model(
        osp.join(CSR_CFG, 'csr-vgg16-conv4_1xb128_cifar10.py'))
    convs = [m.conv for i in range(1, 6)
             for m in getattr(model.backbone, f'layer{i}')]
    assert [n_weights(c) for c in convs] == [
        1728, 36864, 73728, 147456, 299520, 48672, 48672, 143685, 190962,
        190962, 190962, 190962, 190962]
    assert [isinstance(c, CSRConv) for c in convs] == [False] * 5 + [True] * 8
    assert all(c.num_steps == 5 for c in convs[5:])
    assert n_weights(model.head) == 267264
    # Table 1 prints 2,022,489; with Conv8's 143,685 its rows sum to ours
    # plus 90 that we cannot place (docs/csr_conv.md)
    assert n_weights(model) == 2022399
    vgg, _ = build_cfg_model(osp.join(CSR_CFG, 'vgg16_1xb128_cifar10.py'))
    assert n_weights(vgg) == 14977728  # Table 2: 14.98M
    rho = 1 - n_weights(model) / n_weights(vgg)
    assert f'{100 * rho:.1f}' == '86.5'  # Tables 1-2
    assert model.backbone.num_steps[5:] == (5, ) * 8


def test_csr_vgg_shapes_and_options():
    model = CSRVGG(arch=None, channels=(4, ) * 13, num_steps=2,
                   cell='gru', out_indices=(0, 4)).eval()
    outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 16, 16), (1, 4, 1, 1)]
    assert sum(isinstance(m, CSRConv) for m in model.modules()) == 13
    with pytest.raises(ValueError, match='`channels` must be a sequence of '
                       '13 ints'):
        CSRVGG(arch=None, channels=(4, ) * 12, num_steps=1)
    with pytest.raises(ValueError, match='`arch` must be one of'):
        CSRVGG(arch='vgg19')
    with pytest.raises(ValueError, match='`frozen_stages`'):
        CSRVGG(frozen_stages=6)


def test_csr_vgg_frozen_stages():
    model = CSRVGG(frozen_stages=2).train()
    for i in range(1, 6):
        grads = {p.requires_grad for p in getattr(model,
                                                  f'layer{i}').parameters()}
        assert grads == {i > 2}


# ---------------------------------------------------------- CSRResNet ---
def test_csr_resnet_parameter_counts():
    """Table 2 backbones: ResNet-50 25.56M (exact), ResNet-56 / -110 0.86M /
    1.73M against the paper's 0.85M / 1.74M (option-B shortcuts here)."""
    head = lambda c, k: c * k + k  # noqa: E731
    assert n_params(CSRResNet(50)) + head(2048, 1000) == 25557032
    assert n_params(CSRResNetCIFAR(56)) + head(64, 10) == 855770
    assert n_params(CSRResNetCIFAR(110)) + head(64, 10) == 1730714
    for name, count in (('csr-resnet56-t2-last4_1xb128_cifar10.py', 782042),
                        ('csr-resnet110-t2-last14_1xb128_cifar10.py',
                         1472666)):
        model, _ = build_cfg_model(osp.join(CSR_CFG, name))
        assert n_params(model) == count


def test_csr_resnet_converts_the_last_convs_of_a_stage():
    plain = CSRResNetCIFAR(20)
    model = CSRResNetCIFAR(20, csr_num_steps=(1, 3, 2),
                           csr_num_convs=(0, 3, -1))
    assert model.num_csr_convs() == 3 + 6
    stage2 = [m for blk in model.layer2 for m in (blk.conv1, blk.conv2)]
    assert [isinstance(c, CSRConv) for c in stage2] == [False] * 3 + \
        [True] * 3
    assert all(c.num_steps == 3 for c in stage2[3:])
    first = model.layer3[0].conv1  # 32 -> 64, stride 2
    assert (first.in_channels, first.out_channels, first.stride) == \
        (32, 64, (2, 2))
    assert (first.seg_in, first.hidden_channels) == (16, 32)
    x = torch.rand(2, 3, 32, 32)
    assert model.eval()(x)[-1].shape == plain.eval()(x)[-1].shape == \
        (2, 64, 8, 8)
    # k^2 D (D + d) per converted conv: 32 -> 32 at T = 3 (d = D = 11),
    # 32 -> 64 and 64 -> 64 at T = 2 (d = 16 or 32, D = 32)
    assert n_params(plain) - n_params(model) == \
        3 * (32 * 32 * 9 - 9 * 11 * 22) + (32 * 64 * 9 - 9 * 32 * 48) + \
        5 * (64 * 64 * 9 - 9 * 32 * 64)


def test_csr_resnet_bottleneck_and_frozen_stages():
    model = CSRResNet(50, csr_num_steps=(1, 1, 1, 4), frozen_stages=4,
                      base_channels=8, stem_channels=8)
    model.train()
    convs = [blk.conv2 for blk in model.layer4]
    assert all(isinstance(c, CSRConv) and c.num_steps == 4 for c in convs)
    assert not any(p.requires_grad for p in model.layer4.parameters())
    assert model.num_csr_convs() == 3


def test_csr_resnet_cifar_freezes_the_converted_convs():
    """The CSR-Convs built after mmpretrain's ResNet froze its stages are
    frozen too, from construction on (an optimiser built before the first
    ``train()`` must not get them); ``train()`` keeps them frozen and returns
    the model."""
    model = CSRResNetCIFAR(20, csr_num_steps=(2, 2, 2), frozen_stages=2,
                           base_channels=4, stem_channels=4)
    trainable = {name for name, p in model.named_parameters()
                 if p.requires_grad}
    assert trainable and all(name.startswith('layer3.') for name in trainable)
    assert model.train() is model
    frozen = [model.conv1, model.norm1, model.layer1, model.layer2]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert not any(m.training for m in frozen)
    csr_frozen = [m for m in model.layer2.modules() if isinstance(m, CSRConv)]
    assert csr_frozen and not any(p.requires_grad for m in csr_frozen
                                  for p in m.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert model.layer3.training
    model = CSRResNetCIFAR(20, csr_num_steps=(1, 1, 2), norm_eval=True,
                           base_channels=4, stem_channels=4).train()
    assert not any(m.training for m in model.modules()
                   if isinstance(m, _BatchNorm))


def test_csr_resnet_bad_arguments():
    with pytest.raises(ValueError, match='`csr_num_steps` must be a sequence '
                       'of 3 ints'):
        CSRResNetCIFAR(20, csr_num_steps=(1, 2))
    with pytest.raises(ValueError, match='has 6 3x3 convs, asked for 7'):
        CSRResNetCIFAR(20, csr_num_steps=(2, 1, 1), csr_num_convs=(7, 0, 0))
    with pytest.raises(ValueError, match='whose `csr_num_steps` is 1'):
        CSRResNetCIFAR(20, csr_num_steps=(1, 1, 2), csr_num_convs=(1, 0, 2))
    with pytest.raises(ValueError, match='`csr_cell` must be one of'):
        CSRResNetCIFAR(20, csr_num_steps=(1, 1, 2), csr_cell='tcn')
    with pytest.raises(ValueError, match='give `csr_num_steps` only'):
        CSRResNetCIFAR(20, csr_num_steps=(1, 1, 2), csr_steps=(1, 1, 2))
    with pytest.warns(FutureWarning, match='`csr_steps` is deprecated'):
        old = CSRResNetCIFAR(20, csr_steps=(1, 3, 2))
    assert old.csr_num_steps == (1, 3, 2) and old.num_csr_convs() == 12


# --------------------------------------------------------- training ---
@pytest.mark.parametrize('backbone,channels', [
    (dict(type='RecNet', expansion=2, seg_channels=(2, 2, 4),
          num_steps=(3, 3, 3)), 12),
    (dict(type='CSRVGG', arch=None, channels=(8, ) * 13, num_steps=(1, ) * 5
          + (3, ) * 8), 8),
    (dict(type='CSRResNetCIFAR', depth=20, base_channels=4, stem_channels=4,
          csr_num_steps=(1, 2, 2)), 16),
])
def test_training_lowers_the_loss(backbone, channels):
    torch.manual_seed(0)
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(
        type='ImageClassifier', backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4,
                  in_channels=channels)))
    y = torch.arange(8) % 4
    x = 0.5 * torch.randn(8, 3, 32, 32)
    for i, c in enumerate(y.tolist()):  # class c: a bright quadrant
        x[i, :, 16 * (c // 2):16 * (c // 2) + 16, 16 * (c % 2):16 * (c % 2)
          + 16] += 2
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(25):
        logits = model.head.fc(model.neck(model.backbone(x))[-1])
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# ----------------------------------------- CIFAR stand-in, real Runner ---
RUN_CONFIGS = [
    ('recnet/recnet-60-1280_1xb64_cifar100.py', 'cifar100'),
    ('recnet/recnet-60-1280_1xb64_cifar10.py', 'cifar10'),
    ('recnet/recnet-60-480_1xb64_cifar100.py', 'cifar100'),
    ('csr_conv/csr-vgg16-conv4_1xb128_cifar10.py', 'cifar10'),
    ('csr_conv/csr-resnet56-t2-last4_1xb128_cifar10.py', 'cifar10'),
]


@pytest.mark.slow
@pytest.mark.parametrize('name,dataset', RUN_CONFIGS)
def test_cifar_configs_run_a_few_iterations(name, dataset, tmp_path):
    data_root, dataset_type = make_cifar_stand_in(tmp_path / 'data', dataset)
    cfg = stand_in_run_cfg(Config.fromfile(osp.join(REPO_ROOT, 'configs',
                                                    name)),
                           data_root, dataset_type, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2  # 8 images, batch 4
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    assert osp.isfile(osp.join(str(tmp_path / 'work'), 'epoch_1.pth'))
    metrics = runner.test()
    assert 0 <= metrics['accuracy/top1'] <= 100


def test_stand_in_goes_through_mmpretrain_integrity_check(tmp_path):
    """The stand-in is loaded by mmpretrain's own code: corrupting a file
    makes its md5 check fail."""
    root, name = make_cifar_stand_in(tmp_path, 'cifar100')
    dataset = DATASETS.build(dict(type=name, data_root=root, split='test',
                                  download=False))
    assert len(dataset) == 4 and len(dataset.metainfo['classes']) == 100
    with open(osp.join(root, CIFAR100.base_folder, 'test'), 'ab') as f:
        f.write(b'x')
    with pytest.raises(RuntimeError, match='Cannot find'):
        DATASETS.build(dict(type=name, data_root=root, split='test',
                            download=False))


def test_paper_settings_in_the_configs():
    cfg = Config.fromfile(osp.join(RECNET_CFG,
                                   'recnet-60-1280_1xb64_cifar100.py'))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay, opt.nesterov,
            opt.dampening) == ('SGD', 0.1, 0.9, 5e-4, True, 0)
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_cfg.max_epochs == 200
    periods = np.cumsum(cfg.param_scheduler.periods).tolist()
    assert periods[:3] == [20, 60, 120] and periods[-1] == 200
    for name, step, gamma in (('csr-vgg16-conv4_1xb128_cifar10.py', 30, 0.5),
                              ('csr-resnet50-t3-last10_8xb32_in1k.py', 10,
                               0.1)):
        cfg = Config.fromfile(osp.join(CSR_CFG, name))
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == \
            ('SGD', 0.05, 0.9, 5e-4)
        sched = cfg.param_scheduler
        assert (sched.type, sched.step_size, sched.gamma) == \
            ('StepLR', step, gamma)
