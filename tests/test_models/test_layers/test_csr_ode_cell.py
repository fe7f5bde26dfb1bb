"""``CSRConv(cell='ode')``: the cell of the CSR-Conv authors' released
notebook (``Seq_CNN``), against a plain port of it, and the cells' init under
a network's ``init_cfg`` (``CSRCell``)."""
import math

import pytest
import torch
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from rla_mm.testing.authors_csr import SeqCNN, copy_weights

from rla_mm.models.layers import CSRConv


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def ode(c_in, c_out, steps, k=1, stride=1, padding=0, bias=False):
    return build_conv_layer(dict(type='CSRConv', num_steps=steps, cell='ode'),
                            c_in, c_out, k, stride, padding, bias=bias)


# ---------------------------------------------------------------- counts ---
@pytest.mark.parametrize('c_in,c_out,steps,count', [
    # the notebook's ImageNet cells (per-cell counts of its printed 2,469,080)
    (160, 960, 3, 119682), (960, 160, 4, 11202), (960, 320, 4, 25602),
    (32, 192, 3, 4802),  # d = 11: one channel copied into the last group
    (32, 32, 3, 244),  # the CIFAR t = 1 block: D = 11, 33 -> 32 kept
])
def test_ode_cell_counts_are_the_notebooks(c_in, c_out, steps, count):
    """k^2 (D d + D^2) + 2: alpha and beta on top of Eq. 2's weights."""
    layer = ode(c_in, c_out, steps)
    seq = SeqCNN(c_in, c_out, 1, group=steps, bias=False)
    assert n_params(layer) == n_params(seq) == count
    rnn = build_conv_layer(dict(type='CSRConv', num_steps=steps), c_in,
                           c_out, 1, bias=False)
    assert n_params(rnn) == count - 2


# --------------------------------------------- equality with the notebook ---
SHAPES = [
    # C_in, C_out, k, stride, padding, bias
    (7, 9, 1, 1, 0, False),  # odd widths: copied fill, cut output
    (11, 13, 3, 2, 1, False),  # 3x3, stride 2
    (9, 5, 3, 1, 0, True),  # "valid" V, a bias on V and one on U
    (13, 7, 3, 2, 1, True),
]


@pytest.mark.parametrize('steps', [1, 2, 3, 4, 5])
@pytest.mark.parametrize('shape', SHAPES)
def test_ode_cell_equals_the_notebook_seq_cnn(shape, steps):
    """Outputs and every gradient of ``cell='ode'`` equal the port of
    ``Seq_CNN`` with the same weights (float64), with alpha, beta and the
    biases away from their init so that each one counts."""
    c_in, c_out, k, stride, padding, bias = shape
    torch.manual_seed(10 * steps + c_in)
    seq = SeqCNN(c_in, c_out, k, steps, stride, padding, bias).double()
    with torch.no_grad():
        seq.alpha.fill_(0.7)
        seq.beta.fill_(0.2)
        for b in (seq.bias_u, seq.bias_v):
            if b is not None:
                b.normal_()
    layer = ode(c_in, c_out, steps, k, stride, padding, bias).double()
    copy_weights(seq, layer)
    x = torch.randn(2, c_in, 9, 8, dtype=torch.double, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    with torch.no_grad():  # the in-place inference path
        torch.testing.assert_close(layer(x), seq(x), rtol=1e-10, atol=1e-10)
    out, ref = layer(x), seq(x_ref)
    assert out.shape == ref.shape == torch.nn.Conv2d(
        c_in, c_out, k, stride, padding)(x.float()).shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(out)
    out.backward(grad), ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-10)
    v, u = layer.input_conv, layer.recurrent_conv
    pairs = [(v.weight, seq.param_u), (v.bias, seq.bias_u)]
    if steps > 1:
        pairs += [(u.weight, seq.param_v), (u.bias, seq.bias_v),
                  (layer.alpha, seq.alpha), (layer.beta, seq.beta)]
    else:  # the notebook's U, alpha, beta at T = 1 never see a gradient
        assert u is None and not hasattr(layer, 'alpha')
        assert seq.param_v.grad is None and seq.alpha.grad is None
    for ours, theirs in pairs:
        if theirs is not None:
            torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10,
                                       atol=1e-10)


def test_step_one_is_linear_and_later_steps_follow_alpha_beta():
    """h_1 = V x_1 (no ReLU, negative values pass); h_2 = (1 - beta) U h_1 +
    alpha ReLU(V x_2 + U h_1), checked by hand on a 1x1 cell."""
    layer = ode(4, 4, 2).double()
    with torch.no_grad():
        layer.alpha.fill_(0.3)
        layer.beta.fill_(0.6)
    x = torch.randn(1, 4, 3, 3, dtype=torch.double)
    w_v = layer.input_conv.weight[:, :, 0, 0]
    w_u = layer.recurrent_conv.weight[:, :, 0, 0]
    h1 = torch.einsum('oc,nchw->nohw', w_v, x[:, :2])
    r = torch.einsum('oc,nchw->nohw', w_u, h1)
    h2 = 0.4 * r + 0.3 * torch.relu(
        torch.einsum('oc,nchw->nohw', w_v, x[:, 2:]) + r)
    out = layer(x)
    assert (out[:, :2] < 0).any()
    torch.testing.assert_close(out, torch.cat([h1, h2], 1))


def test_ode_fills_with_copies_and_rnn_with_zeros():
    """C_in = 5, T = 3: the last group V sees is (x_4, x_0) for 'ode' (the
    notebook's cat(x, x) split) and (x_4, 0) for 'rnn' (Sec. 3.2)."""
    x = torch.randn(1, 5, 4, 4, dtype=torch.double)
    for cell, fill in (('ode', x[:, :1]), ('rnn', torch.zeros_like(x[:, :1]))):
        layer = build_conv_layer(dict(type='CSRConv', num_steps=3, cell=cell),
                                 5, 6, 1, bias=False).double()
        seen = []
        layer.input_conv.register_forward_hook(
            lambda m, args, out: seen.append(args[0]))
        layer(x)
        # steps folded into the batch, step-major: row 2 is x_3 (N = 1)
        torch.testing.assert_close(seen[0][2:3], torch.cat([x[:, 4:], fill],
                                                           1))


def test_ode_init_is_the_notebooks():
    """Kaiming-uniform (a = sqrt(5)) kernels, bound 1 / sqrt(fan_in), and
    alpha = beta = 0.5."""
    torch.manual_seed(0)
    layer = ode(128, 32, 2)  # d = 64, D = 16
    assert layer.alpha.item() == layer.beta.item() == 0.5
    for conv, fan_in in ((layer.input_conv, 64), (layer.recurrent_conv, 16)):
        bound = 1 / math.sqrt(fan_in)
        assert conv.weight.abs().max() <= bound
        assert conv.weight.abs().max() > 0.9 * bound


class _Net(BaseModule):

    def __init__(self, init_cfg):
        super().__init__(init_cfg)
        self.cell = ConvModule(128, 32, 1, conv_cfg=dict(
            type='CSRConv', num_steps=2, cell='ode'), norm_cfg=dict(
                type='BN'))
        self.plain = torch.nn.Conv2d(128, 32, 1)


@pytest.mark.parametrize('with_cell_init', [True, False])
def test_csr_cell_init_keeps_the_cells_own_init(with_cell_init):
    """``dict(type='CSRCell')`` after a Kaiming init: the cell's kernels are
    back to the conv default (within 1 / sqrt(fan_in)) and alpha, beta to
    0.5, while plain convs keep Kaiming's N(0, sqrt(2 / fan_out)); without
    it, Kaiming reaches the convs inside the cell."""
    torch.manual_seed(0)
    init_cfg = [dict(type='Kaiming', layer='Conv2d')]
    net = _Net(init_cfg + [dict(type='CSRCell')] if with_cell_init else
               init_cfg)
    with torch.no_grad():
        net.cell.conv.alpha.fill_(0.9)
    net.init_weights()
    v = net.cell.conv.input_conv.weight
    assert (v.abs().max() <= 1 / math.sqrt(64)) == with_cell_init
    assert (net.cell.conv.alpha.item() == 0.5) == with_cell_init
    assert 0.22 < net.plain.weight.std().item() < 0.28  # sqrt(2 / 32)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r'`groups` must be one of \(1,\)'):
        CSRConv(8, 8, 3, groups=2, num_steps=2, cell='ode')
    with pytest.raises(ValueError, match='`num_steps` must be an int >= 1'):
        ode(8, 8, 0)
    # the notebook would silently drop groups: C_in = 1, T = 3 -> 2 groups
    with pytest.raises(ValueError, match="cell='ode' fills the last input "
                       'group with copies'):
        ode(1, 6, 3)
    with pytest.raises(ValueError, match='`cell` must be one of'):
        CSRConv(8, 8, 1, num_steps=2, cell='euler')
