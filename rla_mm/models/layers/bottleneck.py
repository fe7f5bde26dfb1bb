"""The residual branch of mmdet's ``Bottleneck`` after its first conv, with
mmdet's plugins, for blocks that compute that first conv their own way (RLA
blocks read ``cat(x, h)``) or add to the branch (MRLA-light)."""
from typing import Optional

from torch import Tensor, nn


def bottleneck_branch(block: nn.Module,
                      conv1_out: Tensor,
                      after_norm3: Optional[nn.Module] = None) -> Tensor:
    """norm1-ReLU, conv2-norm2-ReLU, conv3-norm3 of an mmdet ``Bottleneck``
    (or ResNeXt's) given its conv1 output, with the plugins ``after_conv1/2/3``
    where mmdet's forward runs them; ``after_norm3`` (e.g. ECA, "after the
    last BN" of RLA-ECANet) runs before the ``after_conv3`` plugins.

    Example:
        >>> from mmdet.models.backbones.resnet import Bottleneck
        >>> block = Bottleneck(64, 16)
        >>> x = torch.rand(1, 64, 8, 8)
        >>> bottleneck_branch(block, block.conv1(x)).shape
        torch.Size([1, 64, 8, 8])
    """
    out = block.relu(block.norm1(conv1_out))
    if block.with_plugins:
        out = block.forward_plugin(out, block.after_conv1_plugin_names)
    out = block.relu(block.norm2(block.conv2(out)))
    if block.with_plugins:
        out = block.forward_plugin(out, block.after_conv2_plugin_names)
    out = block.norm3(block.conv3(out))
    if after_norm3 is not None:
        out = after_norm3(out)
    if block.with_plugins:
        out = block.forward_plugin(out, block.after_conv3_plugin_names)
    return out
