"""CSR-Conv layer (CSR-Conv paper Sec. 3.2, Eq. 2, Prop. 1, Table 1)."""
import copy
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer
from mmdet.registry import MODELS as MMDET_MODELS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from rla_mm.testing.reference_crc import csr_conv_reference

from rla_mm.models.layers import CSR_CELLS, CSRConv


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def csr(c_in, c_out, steps, k=3, **kwargs):
    return build_conv_layer(dict(type='CSRConv', num_steps=steps, **kwargs),
                            c_in, c_out, k, 1, k // 2, bias=False)


# ---------------------------------------------------------------- counts ---
@pytest.mark.parametrize('c_in,c_out,count', [
    (260, 260, 48672),  # Table 1, Conv6-7: U, V = [52 x 52]
    (515, 515, 190962),  # Conv9-13: [103 x 103]
    # Conv8: V = [52 x 103], U = [103 x 103]. Table 1 prints 134,685, which
    # its own shapes contradict (9 (52 * 103 + 103^2) = 143,685) and so does
    # its 87.8% (1 - 143,685 / (256 * 512 * 9) = 87.8%; 134,685 gives 88.6%)
    (260, 515, 143685),
    # widths that T = 5 does not divide: d = ceil(C_in / T), D = ceil(C_out
    # / T) are what count (the paper widens 256 -> 260, 512 -> 515)
    (256, 256, 48672), (512, 512, 190962), (256, 512, 143685),
])
def test_table1_parameter_counts(c_in, c_out, count):
    layer = csr(c_in, c_out, 5)
    assert isinstance(layer, CSRConv)
    assert n_params(layer) == count


def test_table1_compression_rates():
    """rho_M of Table 1 against the VGG-16 layer it replaces (Conv8 87.8%,
    Conv9-13 91.9%; Conv6-7 give 91.7%, the table prints 91.9% for them
    too)."""
    for c_in, c_out, vgg, rho in ((260, 515, (256, 512), '87.8'),
                                  (515, 515, (512, 512), '91.9'),
                                  (260, 260, (256, 256), '91.7')):
        plain = vgg[0] * vgg[1] * 9
        assert f'{100 * (1 - n_params(csr(c_in, c_out, 5)) / plain):.1f}' \
            == rho


@pytest.mark.parametrize('d,big_d,steps,k', [
    (52, 52, 5, 3), (52, 103, 5, 3), (4, 8, 3, 1), (16, 16, 2, 3),
    (7, 5, 4, 5)])
def test_model_size_ratio_of_proposition_1(d, big_d, steps, k):
    """Prop. 1 against a conv with dT -> DT channels: k^2 D (D + d) /
    (k^2 D d T^2) = (1 + D / d) / T^2 (the paper's last step swaps D and d;
    the two agree for d = D)."""
    layer = csr(d * steps, big_d * steps, steps, k=k)
    conv = torch.nn.Conv2d(d * steps, big_d * steps, k, bias=False)
    ratio = Fraction(n_params(layer), n_params(conv))
    assert ratio == Fraction(k * k * big_d * (big_d + d),
                             k * k * big_d * d * steps**2)
    assert ratio == (1 + Fraction(big_d, d)) / steps**2


def test_gru_and_lstm_have_three_and_four_times_the_weights():
    rnn = n_params(csr(12, 12, 3))
    assert n_params(csr(12, 12, 3, cell='gru')) == 3 * rnn
    assert n_params(csr(12, 12, 3, cell='lstm')) == 4 * rnn


def test_registered_for_mmdet_and_mmpretrain():
    for registry in (MMDET_MODELS, MMPRETRAIN_MODELS):
        layer = registry.build(dict(type='CSRConv', in_channels=8,
                                    out_channels=8, kernel_size=3,
                                    num_steps=2))
        assert isinstance(layer, CSRConv)


# ------------------------------------------------- equality to reference ---
SHAPES = [
    # C_in, C_out, T, stride, padding, dilation, bias
    (12, 12, 3, 1, 1, 1, False),
    (10, 13, 3, 1, 1, 1, False),  # pad the input split, cut the output
    (7, 9, 4, 2, 1, 1, False),  # d = 2 (1 zero channel), D = 3 (3 cut)
    (8, 8, 2, 1, 0, 1, True),  # "valid" V, bias on V
    (6, 9, 3, 1, 2, 2, False),  # dilation
    (5, 6, 1, 1, 1, 1, False),  # T = 1
]


@pytest.mark.parametrize('cell', CSR_CELLS)
@pytest.mark.parametrize('shape', SHAPES)
def test_fast_path_equals_the_per_step_loop(cell, shape):
    """Output and every gradient of the batched path equal Eq. 2's loop
    (with real zero tensors for h_0, c_0), float64."""
    c_in, c_out, steps, stride, padding, dilation, bias = shape
    torch.manual_seed(0)
    layer = build_conv_layer(
        dict(type='CSRConv', num_steps=steps, cell=cell), c_in, c_out, 3,
        stride, padding, dilation, bias=bias).double()
    plain = copy.deepcopy(layer)
    x = torch.randn(2, c_in, 9, 8, dtype=torch.double, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out, ref = layer(x), csr_conv_reference(x_ref, plain)
    conv = torch.nn.Conv2d(c_in, c_out, 3, stride, padding, dilation)
    assert out.shape == ref.shape == conv(x.float()).shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(out)
    out.backward(grad), ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-10)
    for (name, a), b in zip(layer.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10,
                                   msg=name)
    if steps == 1:
        assert layer.recurrent_conv is None


def test_hidden_states_are_concatenated_in_step_order():
    """Output channels [tD, (t+1)D) are h_{t+1}: perturbing input group 2
    leaves h_1 unchanged and changes h_2, h_3 (Eq. 2)."""
    layer = csr(6, 6, 3).eval()
    x = torch.randn(1, 6, 5, 5)
    y = x.clone()
    y[:, 2:4] += 1
    diff = (layer(x) - layer(y)).abs().flatten(2).amax(-1)[0].view(3, 2)
    assert diff[0].max() == 0 and (diff[1:].amax(-1) > 0).all()


def test_truncated_output_is_the_head_of_the_full_concatenation():
    """C_out = 13, T = 3: the 15 hidden channels are cut to the first 13."""
    full = csr(12, 15, 3)
    cut = csr(12, 13, 3)
    cut.load_state_dict(full.state_dict())
    x = torch.randn(2, 12, 6, 6)
    torch.testing.assert_close(cut(x), full(x)[:, :13])


def test_one_step_is_relu_of_a_conv():
    """T = 1: Eq. 2 is h_1 = ReLU(V x), with the weights of a plain conv."""
    layer = csr(6, 8, 1)
    assert n_params(layer) == 6 * 8 * 9
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(
        layer(x), F.relu(F.conv2d(x, layer.input_conv.weight, padding=1)))


# ------------------------------------------------ use through conv_cfg ---
def test_mmdet_modules_use_it_through_conv_cfg():
    """mmdet's ResNet and FPN build every conv from ``conv_cfg``."""
    cfg = dict(type='CSRConv', num_steps=2)
    resnet = MMDET_MODELS.build(dict(
        type='ResNet', depth=18, base_channels=8, conv_cfg=cfg,
        out_indices=(0, 1, 2, 3), init_cfg=None))
    resnet.init_weights()
    assert isinstance(resnet.layer1[0].conv1, CSRConv)
    assert isinstance(resnet.conv1, CSRConv)  # even the 7x7 stem (3 -> 2x2)
    resnet.eval()
    feats = resnet(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64]
    fpn = MMDET_MODELS.build(dict(type='FPN', in_channels=[8, 16, 32, 64],
                                  out_channels=8, num_outs=4, conv_cfg=cfg))
    outs = fpn(feats)
    assert isinstance(fpn.fpn_convs[0].conv, CSRConv)
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 8, 8, 8),
                                              (1, 8, 4, 4), (1, 8, 2, 2)]


def test_conv_module_builds_and_initialises_it():
    module = ConvModule(8, 16, 3, padding=1, conv_cfg=dict(
        type='CSRConv', num_steps=4, cell='gru'), norm_cfg=dict(type='BN'))
    module.init_weights()
    assert module.out_channels == 16 and module.conv.cell == 'gru'
    assert module(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match='`cell` must be one of'):
        csr(8, 8, 2, cell='transformer')
    with pytest.raises(ValueError, match='`num_steps` must be an int >= 1'):
        csr(8, 8, 0)
    with pytest.raises(ValueError, match=r'`groups` must be one of \(1,\)'):
        CSRConv(8, 8, 3, groups=2, num_steps=2)
    with pytest.raises(ValueError, match='`kernel_size` must hold 2 positive '
                       'odd ints'):
        CSRConv(8, 8, 2, num_steps=2)
    with pytest.raises(ValueError, match='`kernel_size` must hold 2 positive '
                       'odd ints'):
        CSRConv(8, 8, (3, 4), num_steps=2)
    with pytest.raises(ValueError, match='expects 8 input channels'):
        csr(8, 8, 2)(torch.randn(1, 6, 5, 5))
