"""The RLA bricks' CPU fast path (``rla_mm/models/layers/rla.py`` and
``rla_conv1.py``): each shortcut computes the same function as the plain op,
and the channels-last hidden state never leaks into a backbone's outputs."""
import pytest
import torch
import torch.nn.functional as F

from rla_mm.models import RLAMobileNetV2, RLAResNet, RLAResNetCIFAR
from rla_mm.models.layers import RLAUnit
from rla_mm.models.layers.rla import tanh_
from rla_mm.models.layers.rla_conv1 import add_1x1_conv

TINY = dict(base_channels=16, rla_channel=8)


def _tanh_inputs(dtype):
    torch.manual_seed(0)
    return torch.cat([
        torch.randn(10000) * 3,
        torch.logspace(-30, 1.5, 500),
        -torch.logspace(-30, 1.5, 500),
        torch.tensor([0.0, 40.0, -40.0, 1e4, -1e4]),
    ]).to(dtype)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 2.5e-7),
                                       (torch.float64, 1e-15)])
def test_fast_tanh_is_tanh_within_rounding(dtype, tol):
    z = _tanh_inputs(dtype)
    want = torch.tanh(z.double())
    with torch.no_grad():
        fast = tanh_(z.clone(), fast=True)
    assert (fast - want).abs().max().item() <= tol
    assert fast.abs().max().item() <= 1
    # the fast formula really ran (it rounds differently from torch.tanh)
    assert not torch.equal(fast, torch.tanh(z))


def test_fast_tanh_only_in_eager_cpu_inference():
    z = _tanh_inputs(torch.float32)
    exact = torch.tanh(z)
    assert torch.equal(tanh_(z.clone(), fast=False), exact)
    with torch.enable_grad():  # training keeps torch.tanh_ and its backward
        leaf = z.clone().requires_grad_()
        out = tanh_(leaf * 1, fast=True)
        assert torch.equal(out.detach(), exact)
        out.sum().backward()
        torch.testing.assert_close(leaf.grad, 1 - exact**2)
    with torch.no_grad():
        traced = torch.jit.trace(lambda t: tanh_(t * 1, fast=True), z)
    assert 'tanh' in str(traced.graph)


@pytest.mark.parametrize('h_layout', ['nchw', 'channels_last'])
def test_add_1x1_conv_is_base_plus_conv(h_layout):
    torch.manual_seed(0)
    big = torch.randn(3, 20, 5, 7, dtype=torch.float64)
    base = big[:, :12]  # a channel slice, as of a shared GEMM's output
    h = torch.randn(3, 8, 5, 7, dtype=torch.float64)
    if h_layout == 'channels_last':
        h = h.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(12, 8, 1, 1, dtype=torch.float64)
    got = add_1x1_conv(base, weight, h)
    torch.testing.assert_close(got, F.conv2d(h, weight) + base,
                               rtol=1e-12, atol=1e-12)
    assert got.is_contiguous()


def _recurrent_conv_inputs(model, x):
    seen = []
    for unit in model.modules():
        if isinstance(unit, RLAUnit):
            unit.recurrent_conv.register_forward_hook(
                lambda mod, args, out: seen.append(args[0]))
    with torch.no_grad():
        outs = model(x)
    return seen, outs


@pytest.mark.parametrize('split_conv1', ['auto', False])
def test_fast_path_runs_the_recurrent_conv_channels_last(split_conv1):
    model = RLAResNet(50, split_conv1=split_conv1, **TINY).eval()
    seen, _ = _recurrent_conv_inputs(model, torch.rand(2, 3, 64, 64))
    assert seen
    channels_last = [
        t.is_contiguous(memory_format=torch.channels_last)
        and not t.is_contiguous() for t in seen
    ]
    assert all(channels_last) if split_conv1 == 'auto' \
        else not any(channels_last)


@pytest.mark.parametrize('build', [
    lambda: RLAResNet(50, **TINY),
    lambda: RLAResNet(50, concat_hidden=True, out_indices=(3, ), **TINY),
    lambda: RLAResNet(18, **TINY),
    lambda: RLAResNet(50, rla_source='residual', **TINY),
    lambda: RLAMobileNetV2(rla_channel=8, out_indices=(7, ),
                           concat_hidden=True),
    lambda: RLAResNetCIFAR(56, rla_channel=8, concat_hidden=True),
])
@pytest.mark.parametrize('layout', [torch.contiguous_format,
                                    torch.channels_last])
def test_backbone_outputs_keep_the_input_layout(build, layout):
    """h is channels-last inside the fast path; every output is laid out
    like the input, whatever the block reads h with."""
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(2, 3, 64, 64).contiguous(memory_format=layout)
    with torch.no_grad():
        outs = model(x)
    for out in outs:
        assert out.is_contiguous(memory_format=layout), out.stride()
