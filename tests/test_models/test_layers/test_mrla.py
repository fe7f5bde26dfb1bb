"""The MRLA-light brick (MRLA paper, ICLR 2023, Eq. 8 as the authors' code
computes it): against the authors' module, gate by gate, and its arguments."""
import pytest
import torch
from torch import nn

from rla_mm.models.layers import MRLALight, mrla_kernel_size
from rla_mm.testing.authors_mrla import mrla_module

F64 = dict(rtol=1e-12, atol=1e-12)


def _randomize(brick, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in brick.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
        brick.norm.running_mean.copy_(torch.randn(brick.channels, generator=g))
        brick.norm.running_var.copy_(torch.rand(brick.channels, generator=g)
                                     + .5)
    return brick


def test_kernel_rule_is_the_authors():
    """ECA-Net's rule without a lower bound: 5, 5, 5, 7 for ResNet-50."""
    assert [mrla_kernel_size(c) for c in (256, 512, 1024, 2048)] == \
        [5, 5, 5, 7]
    assert [mrla_kernel_size(c) for c in (4, 16, 64, 128)] == [1, 3, 3, 5]


@pytest.mark.parametrize('channels', [256, 2048])
def test_twelve_c_plus_two_k_parameters(channels):
    brick = MRLALight(channels)
    k = mrla_kernel_size(channels)
    assert sum(p.numel() for p in brick.parameters()) == 12 * channels + 2 * k
    assert brick.num_heads == channels // 32
    assert brick.query_conv.weight.shape == (1, 1, k)
    assert brick.value_conv.weight.shape == (channels, 1, 3, 3)


def test_equals_the_authors_module_in_float64():
    """out = x + BN(a * V(x) + lambda * prev) with the authors' names."""
    torch.manual_seed(0)
    brick = _randomize(MRLALight(128, head_dim=32)).double().eval()
    theirs = mrla_module(128).double()
    theirs.mrla.Wq.weight.data.copy_(brick.query_conv.weight)
    theirs.mrla.Wk.weight.data.copy_(brick.key_conv.weight)
    theirs.mrla.Wv.weight.data.copy_(brick.value_conv.weight)
    theirs.lambda_t.data.copy_(brick.lambda_t)
    x = torch.randn(2, 128, 9, 7, dtype=torch.float64)
    prev = torch.randn(2, 128, 9, 7, dtype=torch.float64)
    with torch.no_grad():
        out, o = brick(x, prev)
        want_o = theirs(x, prev)
        want = x + brick.norm(want_o)
    torch.testing.assert_close(o, want_o, **F64)
    torch.testing.assert_close(out, want, **F64)


def test_gates_are_one_sigmoid_per_head():
    brick = _randomize(MRLALight(64, head_dim=16)).double()
    x = torch.randn(3, 64, 5, 6, dtype=torch.float64)
    s = x.mean((2, 3)).unsqueeze(1)
    qk = (brick.query_conv(s) * brick.key_conv(s)).squeeze(1)  # [3, 64]
    want = torch.sigmoid(qk.view(3, 4, 16).sum(-1) / 4.0)
    with torch.no_grad():
        torch.testing.assert_close(brick.head_gates(x), want, **F64)
        out, o = brick(x, torch.zeros_like(x))
        # with prev = 0, O is V scaled by its head's gate
        v = brick.value_conv(x)
        torch.testing.assert_close(
            o, v * want.repeat_interleave(16, dim=1)[..., None, None], **F64)


def test_prev_enters_through_lambda_only():
    brick = _randomize(MRLALight(32, head_dim=8)).double()
    x = torch.randn(1, 32, 4, 4, dtype=torch.float64)
    prev = torch.randn(1, 32, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        _, o0 = brick(x, torch.zeros_like(x))
        _, o1 = brick(x, prev)
    torch.testing.assert_close(o1 - o0, brick.lambda_t * prev, **F64)


def test_lambda_init():
    torch.manual_seed(0)
    lam = MRLALight(2048).lambda_t
    assert lam.shape == (2048, 1, 1)
    assert abs(lam.mean().item()) < 0.1 and abs(lam.std().item() - 1) < 0.1
    assert torch.all(MRLALight(64, lambda_init=0.5).lambda_t == 0.5)


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(0)
    brick = _randomize(MRLALight(32, head_dim=8, drop_path_rate=0.5))
    x, prev = torch.randn(64, 32, 3, 3), torch.randn(64, 32, 3, 3)
    brick.train()
    out, _ = brick(x, prev)
    kept = [(out[i] - x[i]).abs().max().item() > 0 for i in range(64)]
    assert 0 < sum(kept) < 64  # some samples lose the MRLA branch
    brick.eval()
    with torch.no_grad():
        out, o = brick(x, prev)
    torch.testing.assert_close(out, x + brick.norm(o))


def test_odd_sizes_and_norm_cfg():
    brick = MRLALight(48, head_dim=16, norm_cfg=dict(type='GN', num_groups=4))
    assert isinstance(brick.norm, nn.GroupNorm) and brick.norm_name == 'gn'
    out, o = brick(torch.rand(2, 48, 1, 13), torch.rand(2, 48, 1, 13))
    assert out.shape == o.shape == (2, 48, 1, 13)


@pytest.mark.parametrize('kwargs,word', [
    (dict(channels=64, head_dim=48), 'head_dim'),
    (dict(channels=64, head_dim=0), 'head_dim'),
    (dict(channels=0), 'channels'),
    (dict(channels=64, kernel_size=4), 'kernel_size'),
    (dict(channels=64, drop_path_rate=1.0), 'drop_path_rate'),
    (dict(channels=64, drop_path_rate=True), 'drop_path_rate'),
    (dict(channels=64, lambda_init='zeros'), 'lambda_init'),
])
def test_invalid_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MRLALight(**kwargs)
