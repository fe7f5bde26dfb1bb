"""Linear classification head with dropout before the linear layer.

The classifier of MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov, Chen,
"MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
arXiv:1801.04381), as trained by the RLA authors for (ds)RLA-MobileNetV2 in
Zhao, Fang, Li, "Recurrence along Depth: Deep Convolutional Neural Networks
with Recurrent Layer Aggregation", NeurIPS 2021, arXiv:2110.11852, App. B.2.1
(settings "following [MobileNetV2]"): ``Dropout(0.2)`` on the pooled feature,
then the linear layer.

mmpretrain's ``StackedLinearClsHead`` also has a ``dropout_rate``, but it keeps
its layers in ``layers.<i>.fc`` and drops out only before hidden layers; this
head is mmpretrain's ``LinearClsHead`` plus a parameter-free ``nn.Dropout``,
so its state dict keeps the ``fc.weight`` / ``fc.bias`` keys of
``LinearClsHead`` and converted authors' checkpoints (``classifier.1.*`` ->
``head.fc.*``) load unchanged.
"""
from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead

from rla_mm.registry import MODELS


@MODELS.register_module()
class DropoutLinearClsHead(LinearClsHead):
    """``LinearClsHead`` with ``nn.Dropout(dropout_rate)`` before ``fc``.

    Dropout is active in ``train()`` mode only (``nn.Dropout``), and only on
    the logits path: ``pre_logits`` (what feature extraction and retrieval
    read) stays the plain pooled feature.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Channels of the pooled input feature.
        dropout_rate (float): Probability of zeroing an input of ``fc``, in
            ``[0, 1)``. Default 0.2 (MobileNetV2's classifier).
        **kwargs: The other arguments of mmpretrain's ``LinearClsHead``
            (``loss``, ``topk``, ``cal_acc``, ``init_cfg``).

    Example:
        >>> head = DropoutLinearClsHead(num_classes=10, in_channels=1280)
        >>> head((torch.rand(2, 1280), )).shape
        torch.Size([2, 10])
        >>> sorted(head.state_dict())
        ['fc.bias', 'fc.weight']
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_rate: float = 0.2,
                 **kwargs) -> None:
        if (isinstance(dropout_rate, bool)
                or not isinstance(dropout_rate, (int, float))
                or not 0 <= dropout_rate < 1):
            raise ValueError('`dropout_rate` must be a float in [0, 1), '
                             f'got {dropout_rate!r}')
        super().__init__(
            num_classes=num_classes, in_channels=in_channels, **kwargs)
        self.dropout_rate = float(dropout_rate)
        self.dropout = nn.Dropout(p=self.dropout_rate)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits ``fc(dropout(feats[-1]))``, shape (N, num_classes)."""
        return self.fc(self.dropout(self.pre_logits(feats)))
