"""CRC layer and Recurrent module (RecNets Sec. 2.1-2.3, Eq. 2-7)."""
import copy

import pytest
import torch
from mmcv.cnn import ConvModule, build_conv_layer
from mmdet.registry import MODELS as MMDET_MODELS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from rla_mm.testing.reference_crc import crc_reference, recurrent_module_reference
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils._python_dispatch import TorchDispatchMode

from rla_mm.models.layers import CRC, CRC_NONLINEARITIES, RecurrentModule


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def randomize(module, seed=0):
    """Non-trivial BN affine parameters and running statistics."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            for t, lo, hi in ((m.weight, .5, 1.5), (m.running_var, .5, 1.5)):
                t.data.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)
            for t in (m.bias, m.running_mean):
                t.data.copy_(torch.randn(t.shape, generator=g) * .2)
    return module


def closed_form_crc(c_in, c_out, d, k_x=3, k_h=3, nonlinearity='separate_'
                    'bn_relu'):
    """(S_in k_x^2 + S_out k_h^2) S_out weights (Sec. 2.1.1) + norms/bias."""
    s_in, s_out = c_in // d, c_out // d
    weights = (s_in * k_x**2 + s_out * k_h**2) * s_out
    extra = dict(separate_bn_relu=2 * s_out * d, shared_bn_relu=2 * s_out,
                 relu=s_out, linear=2 * c_out)[nonlinearity]
    return weights + extra


# ---------------------------------------------------------------- counts ---
def test_paper_example_has_47360_parameters():
    """Sec. 2.1.1: 160 -> 640 channels, 10 segments: 47,360 parameters
    (46,080 weights + one 64-channel BN per step)."""
    crc = build_conv_layer(dict(type='CRC', num_steps=10), 160, 640, 3,
                           padding=1)
    assert isinstance(crc, CRC)
    assert n_params(crc) == 47360
    assert n_params(crc.conv_x) + n_params(crc.conv_h) == 46080
    assert len(crc.norms) == 10


@pytest.mark.parametrize('nonlinearity', CRC_NONLINEARITIES)
@pytest.mark.parametrize('k_x,k_h', [(3, 3), (1, 3), (3, 1)])
def test_parameter_counts_follow_the_closed_form(nonlinearity, k_x, k_h):
    crc = CRC(160, 640, num_steps=10, kernel_size_x=k_x, kernel_size_h=k_h,
              nonlinearity=nonlinearity)
    assert n_params(crc) == closed_form_crc(160, 640, 10, k_x, k_h,
                                            nonlinearity)


def test_registered_for_mmdet_and_mmpretrain():
    for registry in (MMDET_MODELS, MMPRETRAIN_MODELS):
        crc = registry.build(dict(type='CRC', in_channels=8, out_channels=16,
                                  num_steps=4))
        assert isinstance(crc, CRC)
        rec = registry.build(dict(type='RecurrentModule', in_channels=8,
                                  out_channels=8, num_steps=4))
        assert isinstance(rec, RecurrentModule)


# ------------------------------------------------- equality to reference ---
CASES = [
    dict(nonlinearity=n, kernel_size_x=kx, kernel_size_h=kh)
    for n in CRC_NONLINEARITIES for kx, kh in ((3, 3), (1, 3), (3, 1))
] + [
    dict(nonlinearity='separate_bn_relu', stride=2),
    dict(nonlinearity='relu', bias=False, dilation=2),
    dict(nonlinearity='linear', bias=True),
]


@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('kwargs', CASES)
def test_fast_path_equals_the_per_step_loop(kwargs, train):
    """Output, every gradient and the BN running statistics of the batched
    path equal the plain loop of Eq. 3 (float64)."""
    torch.manual_seed(0)
    fast = randomize(CRC(12, 24, 3, num_steps=4, **kwargs)).double()
    plain = copy.deepcopy(fast)
    fast.train(train), plain.train(train)
    x = torch.randn(3, 12, 9, 7, dtype=torch.double, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out, ref = fast(x), crc_reference(x_ref, plain)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(out)
    out.backward(grad), ref.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-10)
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10,
                                   msg=name)
    for a, b in zip(fast.buffers(), plain.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_steps_are_really_recurrent():
    """h_i depends on x_j for j <= i only (Eq. 5's imbalance): perturbing
    segment 2 leaves h_0, h_1 unchanged and changes h_2 .. h_{d-1}."""
    crc = CRC(8, 8, num_steps=4, nonlinearity='relu').eval()
    x = torch.randn(1, 8, 6, 6)
    y = x.clone()
    y[:, 4:6] += 1
    diff = (crc(x) - crc(y)).abs().flatten(2).amax(-1)[0].view(4, 2)
    assert diff[:2].max() == 0
    assert (diff[2:].amax(-1) > 0).all()


@pytest.mark.parametrize('bias', [False, True])
def test_linear_recursion_in_parallel_equals_the_loop(bias):
    """Eq. 5: one convolution with the block lower-triangular kernel
    W_h^(i-j) W_x equals the recurrence of Eq. 4 (1x1 W_h)."""
    torch.manual_seed(0)
    crc = CRC(12, 24, 3, num_steps=4, nonlinearity='linear',
              kernel_size_h=1, bias=bias, parallel=True).double().eval()
    randomize(crc)
    x = torch.randn(2, 12, 7, 7, dtype=torch.double)
    torch.testing.assert_close(crc(x), crc_reference(x, crc))
    loop = copy.deepcopy(crc)
    loop.parallel = False
    torch.testing.assert_close(crc(x), loop(x))


@pytest.mark.parametrize('kwargs', [
    dict(), dict(stride=2), dict(padding=0), dict(stride=2, padding=0),
    dict(kernel_size_x=1), dict(kernel_size_x=1, padding=2),
    dict(kernel_size=5, padding=1, kernel_size_x=3), dict(dilation=2)])
def test_output_size_is_that_of_the_conv_it_replaces(kwargs):
    args = {k: v for k, v in kwargs.items() if k != 'kernel_size_x'}
    args.setdefault('kernel_size', 3)
    args.setdefault('padding', args['dilation'] * (args['kernel_size'] // 2)
                    if 'dilation' in args else args['kernel_size'] // 2)
    conv = torch.nn.Conv2d(8, 16, **args)
    crc = CRC(8, 16, num_steps=4, **kwargs)
    x = torch.randn(1, 8, 11, 10)
    assert crc(x).shape == conv(x).shape


def test_conv_module_builds_and_initialises_a_crc():
    """Any module that builds convs from ``conv_cfg`` can use the CRC."""
    module = ConvModule(8, 16, 3, padding=1,
                        conv_cfg=dict(type='CRC', num_steps=4),
                        norm_cfg=dict(type='BN'))
    module.init_weights()
    assert isinstance(module.conv, CRC)
    assert (module.in_channels, module.out_channels) == (8, 16)
    assert module(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match='not divisible by `num_steps`'):
        CRC(10, 16, num_steps=4)
    with pytest.raises(ValueError, match='`out_channels`=18'):
        CRC(8, 18, num_steps=4)
    with pytest.raises(ValueError, match='`nonlinearity` must be one of'):
        CRC(8, 16, num_steps=4, nonlinearity='tanh')
    with pytest.raises(ValueError,
                       match='`kernel_size_h` must be a positive odd int'):
        CRC(8, 16, num_steps=4, kernel_size_h=2)
    with pytest.raises(ValueError, match='`num_steps` must be an int >= 1'):
        CRC(8, 16, num_steps=0)
    with pytest.raises(ValueError, match='`num_steps` must be an int >= 1'):
        CRC(8, 16)  # required
    with pytest.raises(ValueError, match=r'`groups` must be one of \(1,\)'):
        CRC(8, 16, num_steps=4, groups=2)
    with pytest.raises(ValueError, match='`bias` must be one of'):
        CRC(8, 16, num_steps=4, bias='yes')
    with pytest.raises(ValueError, match="nonlinearity='linear'"):
        CRC(8, 16, num_steps=4, parallel=True)
    with pytest.raises(ValueError, match='`kernel_size_h=1`'):
        CRC(8, 16, num_steps=4, nonlinearity='linear', parallel=True)
    with pytest.raises(ValueError, match='too small for `kernel_size_x`=1'):
        CRC(8, 16, 3, padding=0, num_steps=4, kernel_size_x=1)
    with pytest.raises(ValueError, match='only square `kernel_size`'):
        CRC(8, 16, (1, 3), num_steps=4)
    with pytest.raises(ValueError, match='expects 8 input channels'):
        CRC(8, 16, num_steps=4)(torch.randn(1, 4, 5, 5))
    assert CRC(8, 16, (3, 3), (2, 2), num_steps=4).stride == (2, 2)


def test_num_segments_is_a_deprecated_alias_of_num_steps():
    """Configs written before the rename (``num_segments=d``) still build the
    same layer, with a warning; giving both names is an error."""
    with pytest.warns(FutureWarning, match='`num_segments` is deprecated'):
        old = build_conv_layer(dict(type='CRC', num_segments=4), 8, 16, 3)
    new = build_conv_layer(dict(type='CRC', num_steps=4), 8, 16, 3)
    assert old.num_steps == new.num_steps == 4
    assert {k: v.shape for k, v in old.state_dict().items()} == \
        {k: v.shape for k, v in new.state_dict().items()}
    with pytest.warns(FutureWarning, match='use `num_steps`'):
        assert old.num_segments == 4
    with pytest.warns(FutureWarning, match='`num_segments` is deprecated'):
        rec = RecurrentModule(8, 8, num_segments=4)
    assert rec.crc.num_steps == 4
    with pytest.raises(ValueError, match='give `num_steps` only'):
        CRC(8, 16, num_steps=4, num_segments=4)


# ------------------------------------------------------ Recurrent module ---
@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('nonlinearity', CRC_NONLINEARITIES)
def test_merged_recurrent_module_equals_the_plain_composition(
        nonlinearity, train):
    """Eq. 6-7: sum_i h_i * A_i then BN + ReLU equals TB(CRC(x)): outputs,
    gradients and BN statistics; the two share one state dict."""
    torch.manual_seed(0)
    plain = randomize(RecurrentModule(
        12, 10, 4, expansion=2, nonlinearity=nonlinearity)).double()
    merged = RecurrentModule(12, 10, 4, expansion=2, nonlinearity=nonlinearity,
                             merged=True).double()
    merged.load_state_dict(plain.state_dict())
    reference = copy.deepcopy(plain)
    for m in (plain, merged, reference):
        m.train(train)
    x = torch.randn(3, 12, 6, 5, dtype=torch.double)
    outs = [plain(x), merged(x), recurrent_module_reference(x, reference)]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(outs[0])
    for out in outs:
        out.backward(grad)
    for module in (merged, reference):
        for (name, a), b in zip(plain.named_parameters(),
                                module.parameters()):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-10,
                                       atol=1e-10, msg=name)
        for (name, a), b in zip(plain.named_buffers(), module.buffers()):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10,
                                       msg=name)


class WidestTensor(TorchDispatchMode):
    """The most values per sample and pixel among the feature maps (4-d
    tensors of the input's spatial size) that operators return; a batch with
    the segments folded in counts d times."""

    def __init__(self, batch, size):
        super().__init__()
        self.batch, self.size, self.width = batch, size, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out, )):
            if isinstance(t, torch.Tensor) and t.dim() == 4 and \
                    tuple(t.shape[2:]) == self.size:
                per_sample = t.numel() // (self.batch * self.size[0] *
                                           self.size[1])
                self.width = max(self.width, per_sample)
        return out


@pytest.mark.parametrize('nonlinearity', CRC_NONLINEARITIES)
def test_merged_path_never_builds_the_wide_intermediate(nonlinearity):
    """C_in = 16, e = 2, C_out = 12: the plain path materialises e C_in = 32
    channels (the batched input term and the CRC output); the merged path
    nothing wider than C_out (its per-step tensors have S_out = 8)."""
    x = torch.randn(2, 16, 5, 5)
    widths = {}
    for merged in (False, True):
        module = RecurrentModule(16, 12, 4, expansion=2, merged=merged,
                                 nonlinearity=nonlinearity).eval()
        with torch.no_grad(), WidestTensor(2, (5, 5)) as probe:
            module(x)
        widths[merged] = probe.width
    assert widths == {False: 32, True: 12}
