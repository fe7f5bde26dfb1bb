"""Efficient Channel Attention (ECA-Net, Wang et al., CVPR 2020).

Used by RLA-ECANet (RLA paper Sec. 4.2: "ECA modules are placed according to
[54], and the output of the ECA module is then passed to our RLA module").
"""
import math
from typing import Optional

import torch
from torch import Tensor, nn


class ECA(nn.Module):
    """ECA: global average pool, a 1-D conv across channels, sigmoid, rescale.

    Matches the authors' ``eca_layer`` (and timm's ``EcaModule``): a single
    ``Conv1d(1, 1, k, bias=False)`` slides over the channel axis of the pooled
    descriptor, so the module has exactly ``k`` parameters.

    Args:
        kernel_size (int, optional): Kernel of the channel conv (odd). RLA-ECANet
            uses (5, 5, 5, 7) for the four ResNet stages. If None, it is derived
            from ``channels`` with ECA-Net's adaptive rule.
        channels (int, optional): Channels, for the adaptive kernel size.
        gamma (int), beta (int): Constants of the adaptive rule.

    Example:
        >>> eca = ECA(kernel_size=5)
        >>> eca(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(self,
                 kernel_size: Optional[int] = None,
                 channels: Optional[int] = None,
                 gamma: int = 2,
                 beta: int = 1) -> None:
        super().__init__()
        if kernel_size is None:
            if channels is None:
                raise ValueError('ECA needs `kernel_size` or `channels`')
            t = int(abs(math.log2(channels) + beta) / gamma)
            kernel_size = max(t if t % 2 else t + 1, 3)
        if not isinstance(kernel_size, int) or kernel_size < 1 \
                or kernel_size % 2 == 0:
            raise ValueError(
                f'ECA `kernel_size` must be a positive odd int, got '
                f'{kernel_size!r}')
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(
            1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        y = x.mean((2, 3)).view(n, 1, c)
        y = torch.sigmoid(self.conv(y)).view(n, c, 1, 1)
        return x * y
