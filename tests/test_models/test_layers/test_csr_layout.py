"""Layouts: which convs of a network become CSR-Convs (CSR-Conv paper Sec.
3.1), by name, ConvModule name or fnmatch pattern, with named errors."""
import pytest
import torch
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from torch import nn

from rla_mm.models.layers import CSRConv, apply_csr_layout, csr_conv_like


def tiny_net():
    return nn.Sequential(
        ConvModule(3, 8, 3, padding=1),  # '0'
        nn.Sequential(ConvModule(8, 12, 1), ConvModule(12, 12, 3, padding=1,
                                                       groups=12)),  # '1.*'
        nn.Conv2d(12, 6, 1),  # '2'
    )


def test_names_patterns_and_conv_module_paths():
    net = tiny_net()
    done = apply_csr_layout(net, {'1.0': 3, '2': 2, '0.conv': 1}, 'ode')
    assert done == {'1.0.conv': 3, '2': 2}  # T = 1 keeps the conv
    assert isinstance(net[1][0].conv, CSRConv) and net[1][0].conv.cell == \
        'ode' and net[1][0].conv.num_steps == 3
    assert isinstance(net[2], CSRConv) and not isinstance(net[0].conv,
                                                          CSRConv)
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 6, 8, 8)
    net = tiny_net()
    assert apply_csr_layout(net, {'[02]*': 2}, 'rnn') == {'0.conv': 2,
                                                          '2': 2}


def test_presets_and_none():
    presets = {'last': {'2': 4}}
    net = tiny_net()
    assert apply_csr_layout(net, None, 'rnn', presets) == {}
    assert apply_csr_layout(net, 'last', 'rnn', presets) == {'2': 4}


def test_the_converted_conv_keeps_its_geometry():
    conv = nn.Conv2d(10, 14, 3, stride=2, padding=2, dilation=2, bias=True)
    csr = csr_conv_like(conv, 3, 'ode')
    assert (csr.in_channels, csr.out_channels, csr.stride, csr.padding,
            csr.dilation) == (10, 14, (2, 2), (2, 2), (2, 2))
    assert csr.input_conv.bias is not None
    x = torch.rand(1, 10, 9, 9)
    assert csr(x).shape == conv(x).shape
    # TF "same" padding is a fixed padding only for 1x1 kernels
    assert csr_conv_like(Conv2dAdaptivePadding(8, 8, 1), 2).padding == (0, 0)
    with pytest.raises(ValueError, match='"same" padding has no fixed'):
        csr_conv_like(Conv2dAdaptivePadding(8, 8, 3), 2)


def test_bad_layouts_are_named():
    with pytest.raises(ValueError, match=r"`csr_layout`: '3\.conv' names no "
                       r'conv of Sequential; convs: \[.*\'1\.0\''):
        apply_csr_layout(tiny_net(), {'3.conv': 2}, 'rnn')
    with pytest.raises(ValueError, match=r"`csr_layout\['2'\]` must be an "
                       'int >= 1'):
        apply_csr_layout(tiny_net(), {'2': 0}, 'rnn')
    with pytest.raises(ValueError, match=r"'1\.0\.conv' gets T = 2 from "
                       r"'1\.\*' and T = 3 from '1\.0'"):
        apply_csr_layout(tiny_net(), {'1.0': 3, '1.*': 2}, 'rnn')
    with pytest.raises(ValueError, match=r"'1\.1\.conv' is a grouped conv "
                       r'\(groups=12\)'):
        apply_csr_layout(tiny_net(), {'1.1': 2}, 'ode')
    with pytest.raises(ValueError, match="`csr_layout` must be one of "
                       r"\('last',\), got 'first'"):
        apply_csr_layout(tiny_net(), 'first', 'rnn', {'last': {'2': 4}})
    with pytest.raises(ValueError, match='`csr_layout` must be None, a '
                       'preset name or a dict'):
        apply_csr_layout(tiny_net(), [('2', 4)], 'rnn')
    with pytest.raises(ValueError, match='`csr_cell` must be one of'):
        apply_csr_layout(tiny_net(), {'2': 2}, 'euler')
