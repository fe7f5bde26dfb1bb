"""CIFAR RLA-ResNet-110/164 (RLA paper App. B.1, Tables 2, 11, 13)."""
import hashlib
import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from rla_mm.models import RLAResNetCIFAR
from rla_mm.testing.reference_rla import reference_cifar_forward
from rla_mm.testing.norms import randomize_bn


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    """Build mmpretrain parts in mmpretrain's scope even when an earlier test
    left mmengine's global default scope at 'mmdet'."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def _n(module):
    return sum(p.numel() for p in module.parameters())


def _with_head(model, num_classes):
    """Parameters of backbone + the linear classifier on its features."""
    return _n(model) + model.feat_dim * num_classes + num_classes


def plain_preact_resnet_params(depth, num_classes):
    """He et al.'s pre-activation CIFAR ResNet-110/164, counted by hand:
    3x3 stem conv, 18 units per stage (BN-ReLU-conv), 1x1 projection
    shortcuts, final BN, linear classifier."""
    bottleneck = depth == 164
    total, inp = 3 * 16 * 9, 16
    for i, planes in enumerate((16, 32, 64)):
        for j in range(18):
            out = planes * 4 if bottleneck else planes
            if bottleneck:
                total += (2 * inp + inp * planes + 2 * planes +
                          9 * planes * planes + 2 * planes + planes * out)
            else:
                total += 2 * inp + 9 * inp * planes + 2 * planes + \
                    9 * planes * planes
            if inp != out or (i > 0 and j == 0):
                total += inp * out
            inp = out
    return total + 2 * inp + inp * num_classes + num_classes


def test_plain_baselines_match_table2():
    # Table 2: ResNet-110 1.73M (C-10) / 1.74M (C-100). For ResNet-164 it
    # lists 1.72M / 1.74M; He et al.'s network has 1.70M / 1.73M.
    assert round(plain_preact_resnet_params(110, 10) / 1e6, 2) == 1.73
    assert round(plain_preact_resnet_params(110, 100) / 1e6, 2) == 1.74
    assert plain_preact_resnet_params(164, 10) == 1703258


@pytest.mark.parametrize('depth,num_classes,paper_total', [
    (110, 10, 1.73 + 0.07),   # Table 2, C-10: 1.73M + 0.07M
    (110, 100, 1.74 + 0.07),  # Table 2, C-100: 1.74M + 0.07M
    (164, 10, 1.72 + 0.02),   # Table 2, C-10; Tables 11, 13, 15: 1.74M
    (164, 100, 1.74 + 0.02),  # Table 2, C-100
])
def test_param_totals_match_table2(depth, num_classes, paper_total):
    model = RLAResNetCIFAR(depth)  # k = 4 for 110, 12 for 164
    assert round(_with_head(model, num_classes) / 1e6, 2) == \
        round(paper_total, 2)


def test_param_increases():
    """The increases we get over He et al.'s networks (C-10): +0.074M for
    ResNet-110 with k=4 (Table 2: +0.07M) and +0.036M for ResNet-164 with
    k=12 (Table 2: +0.02M, the difference of its rounded totals 1.74M -
    1.72M; see docs/rla_checkpoints.md)."""
    inc110 = _with_head(RLAResNetCIFAR(110), 10) - \
        plain_preact_resnet_params(110, 10)
    inc164 = _with_head(RLAResNetCIFAR(164), 10) - \
        plain_preact_resnet_params(164, 10)
    assert round(inc110 / 1e6, 2) == 0.07
    assert inc164 == 36192
    # k = 3 (a quarter of 12) would give +0.06M, not Table 2's +0.07M
    inc110_k3 = _with_head(RLAResNetCIFAR(110, rla_channel=3), 10) - \
        plain_preact_resnet_params(110, 10)
    assert round(inc110_k3 / 1e6, 2) == 0.06


@pytest.mark.parametrize('k,paper', [(8, 1.73), (12, 1.74), (16, 1.75),
                                     (24, 1.78)])
def test_rla_channel_sweep_matches_table13(k, paper):
    model = RLAResNetCIFAR(164, rla_channel=k)
    assert round(_with_head(model, 10) / 1e6, 2) == paper


# ------------------------------------------------------------ forward


@pytest.mark.parametrize('depth', [20, 164])
@pytest.mark.parametrize('preact', [True, False])
@pytest.mark.parametrize('rla_source', ['output', 'residual'])
def test_matches_plain_reference(depth, preact, rla_source):
    torch.manual_seed(0)
    # 164: Bottlenecks, narrowed (base 8) to keep the test fast
    model = RLAResNetCIFAR(depth, preact=preact, rla_source=rla_source,
                           rla_channel=4,
                           base_channels=8 if depth == 164 else 16)
    model.init_weights()
    randomize_bn(model)
    # float64: the random-BN network amplifies float32 rounding, and the
    # post-activation blocks may sum conv1's x and h parts in another order
    # (split_conv1) than the reference's concatenation
    model.double()
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            (got, ) = model(x)
            want = reference_cifar_forward(model, x, training)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_structure():
    model = RLAResNetCIFAR(164).eval()
    assert isinstance(model.maxpool, nn.Identity)
    assert model.conv1.weight.shape == (16, 3, 3, 3)
    assert not hasattr(model, 'bn1')  # pre-activation: no stem norm
    assert [len(getattr(model, n)) for n in model.res_layers] == [18] * 3
    blk = model.layer2[0]
    assert blk.norm1.num_features == 64 + 12  # BN on cat(x, h)
    assert blk.conv1.weight.shape == (32, 64 + 12, 1, 1)
    assert len(blk.downsample) == 1  # plain projection shortcut
    with torch.no_grad():
        (out, ) = model(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 256 + 12, 8, 8) and model.feat_dim == 268
    gn = RLAResNetCIFAR(20, norm_cfg=dict(type='GN', num_groups=4))
    assert len(gn.layer2[0].downsample) == 1  # the norm is dropped for GN too
    assert isinstance(gn.layer2.rla.norms[0], nn.GroupNorm)
    post = RLAResNetCIFAR(110, preact=False)
    assert post.layer2[0].downsample[1].num_features == 32
    with torch.no_grad():
        (out, ) = post.eval()(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 64 + 4, 8, 8)


@pytest.mark.parametrize('preact', [True, False])
def test_every_parameter_gets_a_gradient(preact):
    model = RLAResNetCIFAR(20, preact=preact).train()
    model(torch.rand(2, 3, 32, 32))[0].pow(2).mean().backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    det = RLAResNetCIFAR(20, preact=preact, out_indices=(0, 1, 2),
                         concat_hidden=False).train()
    sum(o.mean() for o in det(torch.rand(2, 3, 32, 32))).backward()
    assert not [n for n, p in det.named_parameters() if p.grad is None]


@pytest.mark.parametrize('preact', [True, False])
def test_frozen_stages(preact):
    model = RLAResNetCIFAR(20, preact=preact, frozen_stages=2)
    model.train()
    for m in (model.conv1, model.layer1, model.layer2):
        assert all(not p.requires_grad for p in m.parameters())
    assert not model.layer2.rla.norms[0].training
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert model.layer3.rla.norms[0].training
    full = RLAResNetCIFAR(20, preact=preact, frozen_stages=3)
    full.train()
    assert all(not p.requires_grad for p in full.layer3.parameters())
    if preact:
        assert not full.final_norm.weight.requires_grad


def test_with_cp_same_grads():
    torch.manual_seed(0)
    a = RLAResNetCIFAR(20)
    b = RLAResNetCIFAR(20, with_cp=True)
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 3, 32, 32)
    grads = []
    for m in (a, b):
        m.train()(x)[0].sum().backward()
        grads.append([p.grad for p in m.parameters()])
    for ga, gb in zip(*grads):
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('kwargs,exc,word', [
    (dict(depth=50), ValueError, 'depth'),
    (dict(depth=110, zero_init_residual=True), ValueError, 'preact'),
    (dict(depth=110, deep_stem=True), ValueError, 'deep_stem'),
    (dict(depth=110, out_indices=(1, )), ValueError, 'out_indices'),
    (dict(depth=110, rla_channel=0), ValueError, 'rla_channel'),
])
def test_invalid_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        RLAResNetCIFAR(**kwargs)


def test_training_lowers_the_loss():
    from mmpretrain.models import ImageClassifier
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = ImageClassifier(
        backbone=dict(type='RLAResNetCIFAR', depth=20),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=68))
    model.init_weights()
    x = torch.rand(8, 3, 32, 32)
    labels = torch.arange(8) % 4
    x[torch.arange(8), labels % 3] += 1.0  # a learnable colour cue
    samples = [DataSample().set_gt_label(int(c)) for c in labels]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9,
                          nesterov=True)
    losses = []
    for _ in range(15):
        loss = model(x, samples, mode='loss')['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ------------------------------------------------------------ CIFAR data
def _write_cifar_stand_in(root, cls, num_classes, per_file=4):
    """A tiny CIFAR in the original python format, and md5s to match."""
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    label_key = 'labels' if num_classes == 10 else 'fine_labels'
    md5 = {}
    for name, _ in cls.train_list + cls.test_list:
        entry = {
            'data': rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
            label_key: [int(i) % num_classes for i in range(per_file)],
        }
        path = folder / name
        path.write_bytes(pickle.dumps(entry))
        md5[name] = hashlib.md5(path.read_bytes()).hexdigest()
    meta = folder / cls.meta['filename']
    meta.write_bytes(pickle.dumps(
        {cls.meta['key']: [f'c{i}' for i in range(num_classes)]}))
    md5['meta'] = hashlib.md5(meta.read_bytes()).hexdigest()
    return md5


@pytest.mark.parametrize('config,cls_name,num_classes', [
    ('rla_resnet110_cifar10.py', 'CIFAR10', 10),
    ('rla_resnet164_cifar100.py', 'CIFAR100', 100),
])
def test_configs_load_cifar_through_mmpretrain(config, cls_name, num_classes,
                                               repo_root, tmp_path,
                                               monkeypatch):
    """The CIFAR configs build their model and read data through
    mmpretrain's own CIFAR10/CIFAR100 (integrity check included: the class's
    md5 list is pointed at the generated stand-in's files)."""
    import mmpretrain.datasets as mpd
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS, MODELS
    cls = getattr(mpd, cls_name)
    md5 = _write_cifar_stand_in(tmp_path, cls, num_classes)
    monkeypatch.setattr(cls, 'train_list',
                        [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, 'test_list',
                        [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, 'meta', dict(cls.meta, md5=md5['meta']))
    cfg = Config.fromfile(os.path.join(repo_root, 'configs', config))
    assert cfg.optim_wrapper.optimizer.nesterov is True
    assert cfg.param_scheduler.milestones == [150, 225]
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.train_dataloader.batch_size == 128
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds_cfg = cfg.train_dataloader.dataset
        ds_cfg.data_root = str(tmp_path)
        dataset = DATASETS.build(ds_cfg)
        assert type(dataset).__name__ == cls_name
        assert len(dataset) == 4 * len(cls.train_list)
        sample = dataset[0]
        assert tuple(sample['inputs'].shape) == (3, 32, 32)
        model = MODELS.build(cfg.model)
    batch = model.data_preprocessor(
        dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']]))
    with torch.no_grad():
        logits = model.eval()(batch['inputs'], mode='tensor')
    assert logits.shape == (1, num_classes)


@pytest.mark.slow
def test_classification_demo_learns(repo_root, tmp_path):
    """configs/demo/rla_resnet_cls_demo.py with the real Runner on the data of
    tools/misc/make_cls_demo_data.py ends well above chance (25%)."""
    import importlib.util

    from mmengine.config import Config
    from mmengine.runner import Runner
    spec = importlib.util.spec_from_file_location(
        'make_cls_demo_data',
        os.path.join(repo_root, 'tools', 'misc', 'make_cls_demo_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    data = tool.make_cls_demo_data(str(tmp_path / 'demo_cls'))
    assert sorted(os.listdir(os.path.join(data, 'val'))) == sorted(
        tool.CLASSES)
    cfg = Config.fromfile(
        os.path.join(repo_root, 'configs', 'demo', 'rla_resnet_cls_demo.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert metrics['accuracy/top1'] > 50
