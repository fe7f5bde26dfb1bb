"""Test helper: give a network's norms non-trivial values."""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN random running statistics and affine parameters (mean
    ~ N(0, 0.01), var ~ U(0.5, 1.5), gamma ~ U(0.5, 1.5), beta ~ N(0, 0.01)),
    so that eval-mode outputs depend on every norm: a freshly built BN is
    the identity in eval mode and would hide a norm applied to the wrong
    tensor. Returns ``model``.

    Example:
        >>> bn = randomize_bn(nn.BatchNorm2d(4))
        >>> bool((bn.running_var != 1).all())
        True
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * .1)
            m.running_var.copy_(torch.rand(n, generator=g) + .5)
            m.weight.data.copy_(torch.rand(n, generator=g) + .5)
            m.bias.data.copy_(torch.randn(n, generator=g) * .1)
    return model
