"""The ways RLA-ResNet is computed (docs/speed.md) all compute the maths of
``tests/reference_rla.py``.

``test_rla_resnet.py::test_matches_plain_reference`` compares the default
path with the reference in float32 at rtol 1e-4 on a network with random BN
statistics. That network amplifies rounding: the float32 reference itself is
up to ~50x that tolerance away from the same reference in float64, so only a
computation with the reference's exact op order can pass it. The paths that
reorder sums (``split_conv1``) are therefore compared here in float64, where
float rounding cannot hide a wrong formula, and the exact ones bit for bit.
"""
import copy

import pytest
import torch

from rla_mm.models import RLAResNet
from rla_mm.analysis.memory import StoragePeakTracker
from rla_mm.models.layers import (RLABottleneck, RLAResLayer,
                                  apply_pending_update)
from rla_mm.testing.reference_rla import reference_forward
from rla_mm.testing.norms import randomize_bn

TINY = dict(base_channels=16, rla_channel=8)




def _assert_close(got, want, rel, msg=''):
    """|got - want| <= rel * max|want| elementwise: rounding relative to the
    tensor's scale (gradients span many orders of magnitude)."""
    err = (got - want).abs().max().item()
    scale = want.abs().max().item()
    assert err <= rel * scale, f'{msg} max error {err:.3g}, scale {scale:.3g}'


def _model(depth=50, **kwargs):
    torch.manual_seed(0)
    model = RLAResNet(depth, zero_init_residual=False, **TINY, **kwargs)
    randomize_bn(model)
    return model


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('depth,eca,rla_source,concat_hidden', [
    (18, None, 'output', False),
    (50, None, 'output', True),
    (50, None, 'residual', False),
    (50, (3, 3, 5, 5), 'output', False),
    (50, (3, 3, 5, 5), 'residual', True),
])
def test_split_conv1_matches_reference_in_float64(depth, eca, rla_source,
                                                  concat_hidden,
                                                  channels_last):
    model = _model(depth, split_conv1=True, eca_kernel_sizes=eca,
                   rla_source=rla_source,
                   concat_hidden=concat_hidden).double()
    x = torch.rand(2, 3, 67, 45, dtype=torch.float64)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            got = model(x)
            want = reference_forward(model, x, rla_source, training=training)
        assert len(got) == len(want) == 4
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def _grads(model, x):
    model.train()
    model.zero_grad(set_to_none=True)
    xi = x.clone().requires_grad_()
    outs = model(xi)
    sum((o * o).sum() for o in outs).backward()
    return [o.detach() for o in outs], xi.grad, {
        n: p.grad for n, p in model.named_parameters()}


def test_split_conv1_gradients_match_default_path_in_float64():
    default = _model(50, concat_hidden=True, split_conv1=False).double()
    split = copy.deepcopy(default)
    for name in split.res_layers:
        getattr(split, name).split_conv1 = True
    x = torch.rand(2, 3, 64, 48, dtype=torch.float64)
    (o1, gx1, gp1), (o2, gx2, gp2) = _grads(default, x), _grads(split, x)
    for a, b in zip(o1, o2):
        _assert_close(a, b, 1e-10)
    _assert_close(gx1, gx2, 1e-9)
    assert gp1.keys() == gp2.keys()
    for n in gp1:
        _assert_close(gp1[n], gp2[n], 1e-9, n)


def test_split_conv1_keeps_the_state_dict():
    a = RLAResNet(50, split_conv1=False, **TINY)
    b = RLAResNet(50, split_conv1=True, **TINY)
    assert list(a.state_dict()) == list(b.state_dict())
    assert [v.shape for v in a.state_dict().values()] == \
        [v.shape for v in b.state_dict().values()]


def test_every_projection_shares_a_gemm_across_stages_too():
    """With split_conv1 no RLA projection runs as a conv of its own in a
    detection backbone: a stage's last one shares the GEMM of the next
    stage's first conv1 (same x), the others the next block's; only the
    classifier's final update (concat_hidden) has no conv1 after it."""
    x = torch.rand(1, 3, 64, 64)
    cases = ((True, False, 'output', 0), (True, True, 'output', 1),
             ('auto', False, 'output', 0), (False, False, 'output', 15),
             (True, False, 'residual', 15))
    for split, concat_hidden, source, want in cases:
        model = RLAResNet(50, split_conv1=split, concat_hidden=concat_hidden,
                          rla_source=source, **TINY).eval()
        calls = []
        for name in model.res_layers:
            getattr(model, name).rla.conv_out.register_forward_hook(
                lambda *args, name=name: calls.append(name))
        with torch.no_grad():
            model(x)
        assert len(calls) == want, (split, concat_hidden, source, calls)


def test_default_path_is_bitwise_the_cat_computation_with_less_memory():
    """``recompute_cat`` (keep x, h for conv1's backward instead of their
    concatenation) gives identical outputs and gradients, bit for bit."""
    torch.manual_seed(0)
    keep = RLAResNet(50, base_channels=16, rla_channel=16,
                     zero_init_residual=False, split_conv1=False)
    plain = copy.deepcopy(keep)
    for name in plain.res_layers:
        getattr(plain, name).recompute_cat = False
    x = torch.rand(4, 3, 128, 128)
    peaks, results = [], []
    for model in (keep, plain):
        _grads(model, x)  # allocate .grad once so both runs match
        with StoragePeakTracker() as tracker:
            results.append(_grads(model, x))
        peaks.append(tracker.peak)
    (o1, gx1, gp1), (o2, gx2, gp2) = results
    assert all(torch.equal(a, b) for a, b in zip(o1, o2))
    assert torch.equal(gx1, gx2)
    assert all(torch.equal(gp1[n], gp2[n]) for n in gp1)
    # here the concatenations are ~14% of the step's peak
    assert peaks[0] < 0.95 * peaks[1], peaks


def test_zero_hidden_state_is_none():
    """h=None is h = 0, for a stage and for a block, on both conv1 paths."""
    torch.manual_seed(0)
    for split in (False, True):
        layer = RLAResLayer(RLABottleneck, 16, 8, 3, rla_channel=4,
                            split_conv1=split).double().eval()
        x = torch.rand(2, 16, 9, 7, dtype=torch.float64)
        zeros = torch.zeros(2, 4, 9, 7, dtype=torch.float64)
        with torch.no_grad():
            x1, h1, pending1 = layer(x, None)
            h1, _ = apply_pending_update(pending1, h1, x1)
            x2, h2, pending2 = layer(x, zeros)
            h2, _ = apply_pending_update(pending2, h2, x2)
            out1, y1 = layer[0](x, None)
            out2, y2 = layer[0](x, zeros)
        for a, b in ((x1, x2), (h1, h2), (out1, out2), (y1, y2)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_with_cp_and_split_conv1_give_the_same_gradients():
    torch.manual_seed(0)
    ref = _model(50, split_conv1=False).double()
    cp = RLAResNet(50, with_cp=True, split_conv1=True, **TINY).double()
    cp.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    (o1, gx1, gp1), (o2, gx2, gp2) = _grads(ref, x), _grads(cp, x)
    for a, b in zip(o1, o2):
        _assert_close(a, b, 1e-10)
    _assert_close(gx1, gx2, 1e-9)
    for n in gp1:
        _assert_close(gp1[n], gp2[n], 1e-9, n)
