"""CSRMobileNetV2 / CSRMobileNetV2CIFAR: the CSR-Conv paper's MobileNet-V2
rows (Table 2, Table 3 Ours-1/2) and the two models of the authors'
notebook, against a plain port of that notebook (same weights, same logits)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmpretrain.models.backbones import MobileNetV2
from rla_mm.testing import authors_csr
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from rla_mm.models import CSRMobileNetV2, CSRMobileNetV2CIFAR
from rla_mm.models.layers import CSRConv

CSR_CFG = osp.join(REPO_ROOT, 'configs', 'csr_conv')


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def build_classifier(name, **backbone):
    cfg = Config.fromfile(osp.join(CSR_CFG, name))
    cfg.model.backbone.update(backbone)
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model)


# ---------------------------------------------------------------- counts ---
@pytest.mark.parametrize('config,count,cells', [
    ('mobilenet-v2_8xb32_in1k.py', 3504872, 0),  # Table 2: 3.50M
    ('csr-mobilenet-v2-conv2_8xb32_in1k.py', 2469080, 24),  # 2.47M, 29.5%
    ('csr-mobilenet-v2-conv1_8xb32_in1k.py', 3013040, 4),  # 3.01M, 14.0%
    ('mobilenet-v2_1xb128_cifar10.py', 2237770, 0),  # 2.24M
    ('csr-mobilenet-v2-notebook_1xb128_cifar10.py', 1182272, 34),
])
def test_counts_are_the_papers_and_the_notebooks(config, count, cells):
    model = build_classifier(config)
    assert n_params(model) == count
    assert model.backbone.num_csr_convs() == cells
    assert all(m.cell == 'ode' for m in model.modules()
               if isinstance(m, CSRConv))


def test_the_notebooks_printed_rates():
    """The notebook prints 1 - numel / plain: 0.4716740326306993 (CIFAR) and
    0.2955291947894245 (ImageNet); Table 2's rho_M 29.5% and 14.0%."""
    assert f'{1 - 1182272 / 2237770:.16f}' == '0.4716740326306993'
    assert f'{1 - 2469080 / 3504872:.16f}' == '0.2955291947894245'
    assert f'{100 * (1 - 3013040 / 3504872):.1f}' == '14.0'


def test_plain_imagenet_network_is_mmpretrains():
    """Without a layout CSRMobileNetV2 is mmpretrain's MobileNetV2, key for
    key and shape for shape."""
    ours = CSRMobileNetV2().state_dict()
    theirs = MobileNetV2().state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == \
        [(k, v.shape) for k, v in theirs.items()]


@pytest.mark.parametrize('make_port,config,size', [
    (lambda: authors_csr.MobileNetV2(), 'csr-mobilenet-v2-conv2_8xb32_in1k.py',
     64),
    (lambda: authors_csr.MobileNetV2(num_plain_blocks=15),
     'csr-mobilenet-v2-conv1_8xb32_in1k.py', 32),
    (lambda: authors_csr.CifarMobileNetV2(),
     'csr-mobilenet-v2-notebook_1xb128_cifar10.py', 16),
    (lambda: authors_csr.CifarMobileNetV2(cells=False),
     'mobilenet-v2_1xb128_cifar10.py', 16),
])
def test_same_logits_as_the_notebooks_model(make_port, config, size):
    """The notebook's networks (port) and our configs' classifiers hold the
    same layers in the same order: with the port's weights (alpha and beta
    moved off 0.5, BN statistics random) they give the same logits, in
    train and eval mode, float64."""
    torch.manual_seed(0)
    port = make_port().double()
    with torch.no_grad():
        for m in port.modules():
            if isinstance(m, authors_csr.SeqCNN):
                m.alpha.uniform_(0.2, 0.9)
                m.beta.uniform_(0.1, 0.8)
            elif isinstance(m, _BatchNorm):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model = build_classifier(config).double()
    assert n_params(model) == n_params(port)
    authors_csr.copy_weights(port, model)
    x = torch.randn(2, 3, size, size, dtype=torch.double)
    for mode in (False, True):
        port.train(mode), model.train(mode)
        with torch.no_grad():
            torch.testing.assert_close(model(x, mode='tensor'), port(x),
                                       rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------ structure ---
def test_layouts_convert_the_named_blocks():
    net = CSRMobileNetV2('csr-conv-1')
    assert net.csr_layout == {'layer6.2.conv.0.conv': 3,
                              'layer6.2.conv.2.conv': 4,
                              'layer7.0.conv.0.conv': 3,
                              'layer7.0.conv.2.conv': 4}
    cifar = CSRMobileNetV2CIFAR('notebook')
    block1 = cifar.layer1[0].conv  # expansion 32 -> 32 even at t = 1
    assert isinstance(block1[0].conv, CSRConv) and \
        block1[0].conv.out_channels == 32 and block1[1].conv.groups == 32
    assert cifar.conv1.conv.stride == (1, 1)
    custom = CSRMobileNetV2({'layer*.conv.2': 4, 'conv2': 2},
                            csr_cell='rnn')
    assert custom.num_csr_convs() == 17 and isinstance(custom.conv2.conv,
                                                       CSRConv)
    assert custom.conv2.conv.cell == 'rnn'


def test_only_the_layers_the_outputs_need_are_kept():
    """A detector's out_indices=(2, 4, 6): no conv2; every parameter gets a
    gradient (DDP without find_unused_parameters)."""
    net = CSRMobileNetV2('csr-conv-2', out_indices=(2, 4, 6))
    assert not hasattr(net, 'conv2') and net.layers[-1] == 'layer7'
    outs = net(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 4, 4), (2, 96, 2, 2),
                                              (2, 320, 1, 1)]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in net.parameters())
    short = CSRMobileNetV2('csr-conv-2', out_indices=(1, ))
    assert short.layers == ['layer1', 'layer2'] and short.csr_layout == {}


def test_frozen_stages_and_norm_eval():
    net = CSRMobileNetV2('csr-conv-2', frozen_stages=3, norm_eval=True)
    net.train()
    for name, module in (('conv1', net.conv1), ('layer3', net.layer3)):
        assert not module.training, name
        assert all(not p.requires_grad for p in module.parameters()), name
    cell = net.layer3[2].conv[0].conv  # block 6: frozen with its stage
    assert isinstance(cell, CSRConv) and not cell.alpha.requires_grad
    assert all(p.requires_grad for p in net.layer4.parameters())
    assert not any(m.training for m in net.modules()
                   if isinstance(m, _BatchNorm))
    assert net.train() is net
    free = CSRMobileNetV2('csr-conv-2').train()
    assert all(m.training for m in free.modules())


def test_default_init_keeps_the_cells_own_init():
    """mmpretrain's Kaiming init for the plain convs, the cells' own
    (kaiming-uniform, alpha = beta = 0.5) as in the notebook."""
    torch.manual_seed(0)
    net = CSRMobileNetV2('csr-conv-1')
    cell = net.layer7[0].conv[2].conv  # 960 -> 320, T = 4: d = 240, D = 80
    with torch.no_grad():
        cell.alpha.fill_(0.9)
    net.init_weights()
    assert cell.alpha.item() == 0.5
    assert cell.input_conv.weight.abs().max() <= 1 / 240**0.5
    # Kaiming fan-out, the notebook's N(0, sqrt(2 / (k^2 C_out))): 0.0152
    dw = net.layer7[0].conv[1].conv.weight  # 960 channels, 3x3
    assert 0.014 < dw.std().item() < 0.0165


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='`csr_layout` must be one of '
                       r"\('csr-conv-1', 'csr-conv-2'\), got 'notebook'"):
        CSRMobileNetV2('notebook')
    with pytest.raises(ValueError, match=r"`csr_layout`: 'layer8\.0\.conv\.0'"
                       ' names no conv of CSRMobileNetV2'):
        CSRMobileNetV2({'layer8.0.conv.0': 3})
    with pytest.raises(ValueError, match=r"'layer2\.0\.conv\.1\.conv' is a "
                       'grouped conv'):
        CSRMobileNetV2({'layer2.0.conv.1': 3})
    with pytest.raises(ValueError, match=r"`csr_layout\['conv2'\]` must be "
                       'an int >= 1'):
        CSRMobileNetV2({'conv2': 0})
    with pytest.raises(ValueError, match='`csr_cell` must be one of'):
        CSRMobileNetV2('csr-conv-1', csr_cell='euler')
    with pytest.raises(ValueError, match='`out_indices` must be a non-empty'):
        CSRMobileNetV2(out_indices=8)
    with pytest.raises(ValueError, match='`frozen_stages` must be an int in '
                       r'\[-1, 7\]'):
        CSRMobileNetV2(frozen_stages=8)
