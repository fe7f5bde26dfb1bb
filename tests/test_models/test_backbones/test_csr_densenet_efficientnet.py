"""CSRDenseNet (DenseNet-40) and CSREfficientNet (EfficientNet-B0): the
CSR-Conv paper's Table 2 rows that no published layout pins down; the counts
of our closest layouts are pinned here (docs/csr_conv.md)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmpretrain.models.backbones import EfficientNet
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from rla_mm.models import CSRDenseNet, CSREfficientNet
from rla_mm.models.layers import CSRConv

CSR_CFG = osp.join(REPO_ROOT, 'configs', 'csr_conv')


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def build_classifier(name):
    cfg = Config.fromfile(osp.join(CSR_CFG, name))
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('config,count,cells', [
    ('densenet40_1xb128_cifar10.py', 1059298, 0),  # Table 2: 1.06M
    ('csr-densenet40-conv1_1xb128_cifar10.py', 828324, 19),  # 0.89M
    ('csr-densenet40-conv2_1xb128_cifar10.py', 689960, 11),  # 0.69M
    ('csr-densenet40-conv3_1xb128_cifar10.py', 529134, 22),  # 0.53M
    ('csr-densenet40-conv4_1xb128_cifar10.py', 379592, 23),  # 0.38M
    ('csr-densenet40-conv5_1xb128_cifar10.py', 204330, 34),  # 0.19M
    ('efficientnet-b0_8xb32_in1k.py', 5288548, 0),  # 5.28M
    ('csr-efficientnet-b0-conv1_8xb32_in1k.py', 4439977, 6),  # 4.28M
    ('csr-efficientnet-b0-conv2_8xb32_in1k.py', 3671586, 8),  # 3.89M
])
def test_counts(config, count, cells):
    model = build_classifier(config)
    assert n_params(model) == count
    assert model.backbone.num_csr_convs() == cells


def test_densenet40_structure_and_closed_form():
    """Huang et al.'s CIFAR DenseNet-40 (k = 12, not BC): 24 -> 168 -> 312
    -> 456 channels, 32 -> 16 -> 8; counted by hand: stem 3x3, per layer
    BN (2c) + 3x3 conv (9 * 12 c), transitions BN + 1x1 c -> c, final BN,
    456 -> 10 linear head."""
    net = CSRDenseNet(40, out_indices=(0, 1, 2)).eval()
    outs = net(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 168, 16, 16),
                                              (1, 312, 8, 8), (1, 456, 8, 8)]
    total, c = 3 * 24 * 9, 24
    for b in range(3):
        for _ in range(12):
            total, c = total + 9 * 12 * c + 2 * c, c + 12
        if b < 2:
            total += 2 * c + c * c
    total += 2 * c  # the final BN
    assert n_params(net) == total and total + 456 * 10 + 10 == 1059298


def test_densenet_layout_names_and_cells():
    net = CSRDenseNet(40, csr_layout='table2-csr-conv-2')
    assert sorted(net.csr_layout) == sorted(
        [f'stages.1.{j}.conv' for j in range(7, 12)]
        + [f'stages.2.{j}.conv' for j in range(6, 12)])
    cell = net.stages[2][11].conv
    assert isinstance(cell, CSRConv) and (cell.num_steps, cell.cell,
                                          cell.out_channels) == (3, 'ode', 12)
    net = CSRDenseNet(40, csr_layout={'transitions.1.0': 5}, csr_cell='rnn')
    assert net.num_csr_convs() == 1 and net(torch.rand(1, 3, 32, 32))[0] \
        .shape == (1, 456, 8, 8)


def test_densenet_frozen_stages_and_norm_eval():
    net = CSRDenseNet(40, csr_layout='table2-csr-conv-1', frozen_stages=1,
                      norm_eval=True).train()
    frozen = [net.stem, net.stages[0], net.transitions[0]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in net.stages[1].parameters())
    assert not any(m.training for m in net.modules()
                   if isinstance(m, _BatchNorm))


def test_efficientnet_is_mmpretrains_plus_cells():
    plain = CSREfficientNet('b0')
    assert [(k, v.shape) for k, v in plain.state_dict().items()] == \
        [(k, v.shape) for k, v in EfficientNet('b0').state_dict().items()]
    net = CSREfficientNet('b0', 'table2-csr-conv-2').eval()
    assert sorted(net.csr_layout) == sorted(
        f'layers.5.{j}.{name}.conv' for j in (1, 2, 3, 4)
        for name in ('expand_conv', 'linear_conv'))
    assert net(torch.rand(1, 3, 64, 64))[0].shape == (1, 1280, 2, 2)
    frozen = CSREfficientNet('b0', frozen_stages=2, norm_eval=True).train()
    assert all(not p.requires_grad for p in frozen.layers[1].parameters())
    assert not frozen.layers[1].training


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r'`depth` must be 3 n \+ 4'):
        CSRDenseNet(41)
    with pytest.raises(ValueError, match=r"`csr_layout`: 'stages\.3\.0' names "
                       'no conv of CSRDenseNet'):
        CSRDenseNet(40, csr_layout={'stages.3.0': 2})
    with pytest.raises(ValueError, match='`csr_layout` must be one of'):
        CSRDenseNet(40, csr_layout='csr-conv-9')
    with pytest.raises(ValueError, match='`num_steps` must be an int >= 1|'
                       r"`csr_layout\['stages.0.0'\]` must be an int >= 1"):
        CSRDenseNet(40, csr_layout={'stages.0.0': 0})
    with pytest.raises(ValueError, match='"same" padding has no fixed size'):
        CSREfficientNet('b0', {'layers.0': 3})  # the 3x3 stem
    with pytest.raises(ValueError, match='`arch` must be one of'):
        CSREfficientNet('b9')
    with pytest.raises(ValueError, match='`csr_layout` must be one of'):
        CSREfficientNet('b1', 'table2-csr-conv-1')  # presets are for 'b0'
