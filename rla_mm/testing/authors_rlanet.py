"""A plain port of the authors' RLA-Net ImageNet models, with THEIR names.

RLA paper (NeurIPS 2021) Sec. 3.3, App. B.2.1. These classes reproduce the
structure and parameter names of the networks behind the released ImageNet
checkpoints (``RLA_ResNet`` for RLA-ResNet/RLA-ECANet-50/101/152,
``dsRLA_MobileNetV2`` for dsRLA-MobileNetV2 k=32 with and without ECA): the
tests assert that their state-dict keys and shapes equal
``tests/data/official_rlanet_state_dict_keys.json`` key for key, in
order, and then that a checkpoint converted by
``tools/model_converters/rlanet2rla_mm.py`` gives rla_mm models the same
logits. Nothing here imports rla_mm.

Two behaviours of the authors' code are kept on purpose:

- ResNet blocks set ``y = out`` and then run the in-place ``out +=
  identity; out = relu(out)``, so the y that updates h is the block output.
- dsRLA-MobileNetV2 builds ONE depthwise recurrent conv and puts it in
  ``recurrent_dsconvs`` five times (five identical copies in the checkpoint).

The MobileNetV2 block's y is not pinned down by the released files: this port
takes y = the branch output before the shortcut (``y_is_output=False``, what
an out-of-place ``x + out``, as in torchvision's InvertedResidual, gives);
``y_is_output=True`` gives the other reading.
"""
import torch
from torch import nn


class eca_layer(nn.Module):  # noqa: N801  (the authors' / ECA-Net's name)
    """ECA-Net's module: GAP, Conv1d over channels, sigmoid, rescale."""

    def __init__(self, channel, k_size=3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(
            1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2))
        y = self.sigmoid(y.transpose(-1, -2).unsqueeze(-1))
        return x * y.expand_as(x)


# ----------------------------------------------------------------- ResNet
class ResNetStem(nn.Module):
    """conv1 (7x7/2), bn1, relu, maxpool (3x3/2): the stem (and its
    registration order) of every ResNet file of the RLA and MRLA authors."""

    def __init__(self, inplace=True):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=inplace)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class RLA_BasicBlock(nn.Module):  # noqa: N801
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 rla_channel=32, ECA_size=None):  # noqa: N803
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes + rla_channel, planes, 3, stride, 1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.averagePooling = None
        if downsample is not None and stride != 1:
            self.averagePooling = nn.AvgPool2d((2, 2), stride=(2, 2))
        self.eca = eca_layer(planes, ECA_size) if ECA_size else None

    def forward(self, x, h):
        identity = x
        x = torch.cat((x, h), dim=1)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.eca is not None:
            out = self.eca(out)
        y = out
        if self.downsample is not None:
            identity = self.downsample(identity)
        if self.averagePooling is not None:
            h = self.averagePooling(h)
        out += identity  # in place: y aliases the output
        out = self.relu(out)
        return out, y, h


class RLA_Bottleneck(nn.Module):  # noqa: N801
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 rla_channel=32, ECA_size=None):  # noqa: N803
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes + rla_channel, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.averagePooling = None
        if downsample is not None and stride != 1:
            self.averagePooling = nn.AvgPool2d((2, 2), stride=(2, 2))
        self.eca = eca_layer(planes * 4, ECA_size) if ECA_size else None

    def forward(self, x, h):
        identity = x
        x = torch.cat((x, h), dim=1)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.eca is not None:
            out = self.eca(out)
        y = out
        if self.downsample is not None:
            identity = self.downsample(identity)
        if self.averagePooling is not None:
            h = self.averagePooling(h)
        out += identity  # in place: y aliases the output
        out = self.relu(out)
        return out, y, h


class RLA_ResNet(ResNetStem):  # noqa: N801
    """The authors' RLA-ResNet / RLA-ECANet (``ECA`` = 4 kernel sizes)."""

    def __init__(self, block, layers, num_classes=1000, rla_channel=32,
                 ECA=None):  # noqa: N803
        super().__init__()
        ECA = ECA or (None, ) * 4  # noqa: N806
        self.rla_channel = rla_channel
        conv_outs, recurrent_convs, stages, stage_bns = [], [], [], []
        for i, planes in enumerate((64, 128, 256, 512)):
            blocks, bns = self._make_layer(block, planes, layers[i],
                                           rla_channel, 1 if i == 0 else 2,
                                           ECA[i])
            stages.append(blocks)
            stage_bns.append(bns)
            conv_outs.append(
                nn.Conv2d(planes * block.expansion, rla_channel, 1,
                          bias=False))
            recurrent_convs.append(
                nn.Conv2d(rla_channel, rla_channel, 3, 1, 1, bias=False))
        self.conv_outs = nn.ModuleList(conv_outs)
        self.recurrent_convs = nn.ModuleList(recurrent_convs)
        self.stages = nn.ModuleList(stages)
        self.stage_bns = nn.ModuleList(stage_bns)
        self.tanh = nn.Tanh()
        self.bn2 = nn.BatchNorm2d(rla_channel)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion + rla_channel, num_classes)

    def _make_layer(self, block, planes, blocks, rla_channel, stride,
                    ECA_size):  # noqa: N803
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride,
                          bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample,
                        rla_channel, ECA_size)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, 1, None, rla_channel,
                                ECA_size))
        bns = [nn.BatchNorm2d(rla_channel) for _ in range(blocks)]
        return nn.ModuleList(layers), nn.ModuleList(bns)

    def features(self, x):
        """Stage outputs (what a detector reads) and the final x, h."""
        x = self.stem(x)
        batch, _, height, width = x.size()
        h = torch.zeros(batch, self.rla_channel, height, width,
                        device=x.device, dtype=x.dtype)
        feats = []
        for layers, bns, conv_out, recurrent_conv in zip(
                self.stages, self.stage_bns, self.conv_outs,
                self.recurrent_convs):
            for layer, bn in zip(layers, bns):
                x, y, h = layer(x, h)
                y_out = conv_out(y)
                h = h + y_out
                h = bn(h)
                h = self.tanh(h)
                h = recurrent_conv(h)
            feats.append(x)
        return feats, x, h

    def forward(self, x):
        _, x, h = self.features(x)
        h = self.relu(self.bn2(h))
        x = torch.cat((x, h), dim=1)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def rla_resnet(depth, eca=False, **kwargs):
    """``rla_resnet50/101/152`` and the ``_eca`` variants of the authors."""
    layers = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3),
              101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[depth]
    block = RLA_BasicBlock if depth < 50 else RLA_Bottleneck
    return RLA_ResNet(block, layers, ECA=(5, 5, 5, 7) if eca else None,
                      **kwargs)


# ------------------------------------------------------------ MobileNetV2
def _make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):

    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1,
                 groups=1):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_planes), nn.ReLU6(inplace=True))


class RLA_InvertedResidual(nn.Module):  # noqa: N801

    def __init__(self, inp, oup, stride, expand_ratio, rla_channel=32,
                 ECA_ksize=None, y_is_output=False):  # noqa: N803
        super().__init__()
        self.stride = stride
        self.expand_ratio = expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.y_is_output = y_is_output
        hidden_dim = int(round(inp * expand_ratio))
        if expand_ratio != 1:
            self.conv1x1 = ConvBNReLU(inp, hidden_dim, kernel_size=1)
        width = hidden_dim + rla_channel
        layers = [
            ConvBNReLU(width, width, stride=stride, groups=width),
            nn.Conv2d(width, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        if ECA_ksize is not None:
            layers.append(eca_layer(oup, ECA_ksize))
        self.conv = nn.Sequential(*layers)
        self.averagePooling = None
        if stride != 1:
            self.averagePooling = nn.AvgPool2d((2, 2), stride=(2, 2))

    def forward(self, x, h):
        identity = x
        if self.expand_ratio != 1:
            x = self.conv1x1(x)
        x = torch.cat((x, h), dim=1)
        out = self.conv(x)
        y = out
        if self.averagePooling is not None:
            h = self.averagePooling(h)
        if self.use_res_connect:
            out = identity + out
            if self.y_is_output:
                y = out
        return out, y, h


class dsRLA_MobileNetV2(nn.Module):  # noqa: N801
    """The authors' dsRLA-MobileNetV2 (``ECA=True``: RLA-ECA variant)."""

    inverted_residual_setting = [[1, 16, 1, 1], [6, 24, 2, 2],
                                 [6, 32, 3, 2], [6, 64, 4, 2],
                                 [6, 96, 3, 1], [6, 160, 3, 2],
                                 [6, 320, 1, 1]]

    def __init__(self, num_classes=1000, width_mult=1.0, rla_channel=32,
                 ECA=False, y_is_output=False):  # noqa: N803
        super().__init__()
        self.rla_channel = rla_channel
        input_channel = _make_divisible(32 * width_mult, 8)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), 8)
        self.conv1 = ConvBNReLU(3, input_channel, stride=2)
        stages, conv_outs, stage_bns = [], [], []
        for t, c, n, s in self.inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, 8)
            ksize = (1 if c < 96 else 3) if ECA else None
            blocks = []
            for i in range(n):
                blocks.append(
                    RLA_InvertedResidual(input_channel, output_channel,
                                         s if i == 0 else 1, t, rla_channel,
                                         ksize, y_is_output))
                input_channel = output_channel
            stages.append(nn.ModuleList(blocks))
            conv_outs.append(
                nn.Conv2d(output_channel, rla_channel, 1, bias=False))
            stage_bns.append(
                nn.ModuleList(nn.BatchNorm2d(rla_channel) for _ in range(n)))
        self.stages = nn.ModuleList(stages)
        self.conv_outs = nn.ModuleList(conv_outs)
        # ONE conv object, reused by all five resolution stages.
        recurrent_dsconv = nn.Conv2d(rla_channel, rla_channel, 3, 1, 1,
                                     groups=rla_channel, bias=False)
        self.recurrent_dsconvs = nn.ModuleList([recurrent_dsconv] * 5)
        self.stage_bns = nn.ModuleList(stage_bns)
        self.tanh = nn.Tanh()
        self.conv2 = ConvBNReLU(input_channel + rla_channel,
                                self.last_channel, kernel_size=1)
        self.bn2 = nn.BatchNorm2d(rla_channel)
        self.relu = nn.ReLU6(inplace=True)
        self.classifier = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))

    def features(self, x):
        """Outputs of the seven groups and the final x, h."""
        x = self.conv1(x)
        batch, _, height, width = x.size()
        h = torch.zeros(batch, self.rla_channel, height, width,
                        device=x.device, dtype=x.dtype)
        feats = []
        stage_of_group = (0, 1, 2, 3, 3, 4, 4)
        for g, (layers, bns, conv_out) in enumerate(
                zip(self.stages, self.stage_bns, self.conv_outs)):
            recurrent_dsconv = self.recurrent_dsconvs[stage_of_group[g]]
            for layer, bn in zip(layers, bns):
                x, y, h = layer(x, h)
                h = recurrent_dsconv(self.tanh(bn(h + conv_out(y))))
            feats.append(x)
        return feats, x, h

    def forward(self, x):
        _, x, h = self.features(x)
        h = self.relu(self.bn2(h))
        x = self.conv2(torch.cat((x, h), dim=1))
        x = nn.functional.adaptive_avg_pool2d(x, 1).reshape(x.shape[0], -1)
        return self.classifier(x)
