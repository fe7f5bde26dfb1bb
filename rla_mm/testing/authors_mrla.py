"""A plain port of the authors' MRLA-light ResNet, with THEIR names.

Fang, Cai, Chen, Zhao, Tian, Li: "Cross-Layer Retrospective Retrieving via
Layer Attention", ICLR 2023 (arXiv:2302.03985), Eq. (8) as their public
code computes it (written from the project's specification of that code,
not copied from it). Module and parameter names are theirs, so that their
checkpoints load into these classes as saved:

- ImageNet (``ResNet_mrlal``): ``conv1``, ``bn1``, ``layer{1..4}.{j}.``
  ``conv1..3``, ``bn1..3``, ``downsample.{0,1}``, ``mrla.mrla.{Wq,Wk,Wv}``,
  ``mrla.lambda_t``, ``bn_mrla.*``, and ``fc``; their ``train.py`` saves it
  from ``DataParallel`` (``module.`` prefix).
- MMDetection 2.x: the same backbone without ``fc`` under ``backbone.``;
  :meth:`ResNet_mrlal.features` gives its four stage outputs.

Kept on purpose: the recurrent term is the block's shortcut (no state between
blocks); no ReLU after the MRLA addition; Q/K convs slide over the whole
pooled C-vector; V keeps dilation 1; lambda ~ N(0, 1) at construction.
Nothing here imports rla_mm but its sibling port (the stem).
"""
import math

import torch
from mmcv.cnn.bricks import DropPath
from torch import nn

from .authors_rlanet import ResNetStem


class mrla_light_layer(nn.Module):  # noqa: N801  (the authors' name)
    """a_h * V_h per head: the attention half of Eq. (8)."""

    def __init__(self, input_dim, dim_perhead=32):
        super().__init__()
        self.heads = input_dim // dim_perhead
        t = int(abs((math.log2(input_dim) + 1) / 2))
        k_size = t if t % 2 else t + 1  # ECA-Net's rule
        self.Wq = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2,
                            bias=False)
        self.Wk = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2,
                            bias=False)
        self.Wv = nn.Conv2d(input_dim, input_dim, 3, 1, 1, groups=input_dim,
                            bias=False)
        self._norm_fact = 1 / math.sqrt(input_dim / self.heads)

    def forward(self, x):
        b, c, h, w = x.shape
        d = c // self.heads
        y = nn.functional.adaptive_avg_pool2d(x, 1).view(b, 1, c)
        q = self.Wq(y).view(b, self.heads, 1, d)
        k = self.Wk(y).view(b, self.heads, 1, d)
        attn = torch.einsum('bhid,bhjd->bhij', q, k) * self._norm_fact
        attn = torch.sigmoid(attn).view(b, self.heads, 1, 1, 1)
        v = self.Wv(x).view(b, self.heads, d, h, w)
        return (v * attn).view(b, c, h, w)


class mrla_module(nn.Module):  # noqa: N801
    """O^t = attention(x^t) + lambda (.) O^{t-1}."""

    def __init__(self, input_dim):
        super().__init__()
        self.mrla = mrla_light_layer(input_dim)
        self.lambda_t = nn.Parameter(torch.randn(input_dim, 1, 1))

    def forward(self, xt, ot_1):
        return self.mrla(xt) + self.lambda_t * ot_1


class MRLA_Bottleneck(nn.Module):  # noqa: N801
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 dilation=1, drop_path=0.0):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.mrla = mrla_module(out)
        self.bn_mrla = nn.BatchNorm2d(out)
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        out = self.relu(out)
        return out + self.drop_path(self.bn_mrla(self.mrla(out, identity)))


class ResNet_mrlal(ResNetStem):  # noqa: N801
    """The authors' ImageNet classifier (and, without ``fc``, their
    MMDetection 2.x backbone)."""

    def __init__(self, layers, num_classes=1000, drop_path=0.0,
                 zero_init_last_bn=True):
        super().__init__()  # the stem: conv1, bn1, relu, maxpool
        for i, blocks in enumerate(layers):
            self.add_module(
                f'layer{i + 1}',
                self._make_layer(64 * 2**i, blocks, 1 if i == 0 else 2,
                                 drop_path))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * MRLA_Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # V included; Conv1d keeps torch's
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_last_bn:
            for m in self.modules():
                if isinstance(m, MRLA_Bottleneck):
                    nn.init.zeros_(m.bn3.weight)

    def _make_layer(self, planes, blocks, stride, drop_path):
        out = planes * MRLA_Bottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride, bias=False),
                nn.BatchNorm2d(out))
        layers = [MRLA_Bottleneck(self.inplanes, planes, stride, downsample,
                                  drop_path=drop_path)]
        self.inplanes = out
        layers += [MRLA_Bottleneck(out, planes, drop_path=drop_path)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        """The four stage outputs (the detection backbone's forward)."""
        x = self.stem(x)
        feats = []
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
            feats.append(x)
        return tuple(feats)

    def forward(self, x):
        x = self.avgpool(self.features(x)[-1])
        return self.fc(torch.flatten(x, 1))


def resnet50_mrlal(**kwargs):
    return ResNet_mrlal([3, 4, 6, 3], **kwargs)


def resnet101_mrlal(**kwargs):
    return ResNet_mrlal([3, 4, 23, 3], **kwargs)
