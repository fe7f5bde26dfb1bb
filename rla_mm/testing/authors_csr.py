"""A plain port of the CSR-Conv authors' released code, with THEIR names.

CSR-Conv paper: Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning
Lightweight Neural Networks via Channel-Split Recurrent Convolution*, WACV
2023. The authors released one notebook, ``RNN-MobileNet.ipynb``
(github.com/tuaxon/CSR_Conv), with a cell (``Seq_CNN``) and two MobileNetV2
models that use it; this module rebuilds the three from their description,
one step at a time and without rla_mm's fast paths, so that tests can
compare ``CSRConv(cell='ode')`` and the CSR lightweight backbones with them:

- ``SeqCNN`` (``Seq_CNN``): ``param_u`` is the input conv (the paper's V),
  ``param_v`` the recurrent one (U), ``alpha`` / ``beta`` the learnable
  scalars; ``cat(x, x)`` split; h_1 = V x_1, h_t = r_t + alpha ReLU(V x_t +
  r_t) - beta r_t with r_t = U h_{t-1}. Its never-registered gradient hooks
  and its grouped ``depth`` form (used only in a commented-out line) are
  left out; its biases, which the notebook allocates and never initialises,
  start at zero here.
- ``CifarMobileNetV2``: the notebook's CIFAR-10 network (stem stride 1,
  17 ``BaseBlock``s whose expansion / projection convs are cells with T = 3 /
  4, an expansion conv even in the t = 1 block, 1x1 head conv, 10 classes).
- ``MobileNetV2``: its ImageNet 1.0x network, with the first
  ``num_plain_blocks`` (5 in the notebook) inverted residual blocks plain and
  the others with cells (T = 3 expansion, T = 4 projection).

``cells=False`` builds the same networks with plain 1x1 convs (the
denominators of the notebook's printed compression rates). ``copy_weights``
copies weights between these ports and rla_mm models in network order.
Nothing here imports rla_mm.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

# (t, c, n, s) of MobileNetV2's inverted residual groups (ImageNet 1.0x)
MBV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# the CIFAR network's groups stride only at 32 -> 64 and 96 -> 160
CIFAR_STRIDES = (1, 1, 1, 2, 1, 2, 1)


class SeqCNN(nn.Module):
    """``Seq_CNN(in_channels, out_channels, kernel_size, group, stride,
    padding, bias)``: group = T."""

    def __init__(self, in_channels, out_channels, kernel_size, group,
                 stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.group_in = math.ceil(in_channels / group)  # d
        self.group_out = math.ceil(out_channels / group)  # D
        self.kernel_size, self.group = kernel_size, group
        self.stride, self.padding = stride, padding
        d, big_d, k = self.group_in, self.group_out, kernel_size
        self.param_u = nn.Parameter(torch.empty(big_d, d, k, k))
        self.param_v = nn.Parameter(torch.empty(big_d, big_d, k, k))
        nn.init.kaiming_uniform_(self.param_u, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.param_v, a=math.sqrt(5))
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.beta = nn.Parameter(torch.tensor(0.5))
        self.bias_u = nn.Parameter(torch.zeros(big_d)) if bias else None
        self.bias_v = nn.Parameter(torch.zeros(big_d)) if bias else None

    def ode_compute(self, x, h):
        return self.alpha * F.relu(x + h) - self.beta * h

    def forward(self, x):
        x_dup = torch.cat([x, x], dim=1)[:, :self.group_in * self.group]
        outs = []
        for x_t in torch.split(x_dup, self.group_in, dim=1):
            o_c = F.conv2d(x_t, self.param_u, self.bias_u, self.stride,
                           self.padding)
            if not outs:
                outs.append(o_c)
                continue
            o_l = F.conv2d(outs[-1], self.param_v, self.bias_v, 1,
                           (self.kernel_size - 1) // 2)
            outs.append(self.ode_compute(o_c, o_l) + o_l)
        return torch.cat(outs, dim=1)[:, :self.out_channels]


def _pointwise(c_in, c_out, group, cells):
    """A 1x1 ``Seq_CNN`` with T = ``group``, or a plain 1x1 conv."""
    if cells:
        return SeqCNN(c_in, c_out, 1, group=group, bias=False)
    return nn.Conv2d(c_in, c_out, 1, bias=False)


def _notebook_init(model, linear_std=None):
    """The notebooks' init loops: convs N(0, sqrt(2 / (k^2 C_out))), BN 1 and
    0, and (ImageNet) Linear N(0, linear_std) with bias 0. Cells are not
    ``nn.Conv2d`` and keep their own init."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2. / fan))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1)
            m.bias.data.zero_()
        elif isinstance(m, nn.Linear) and linear_std is not None:
            m.weight.data.normal_(0, linear_std)
            m.bias.data.zero_()


class BaseBlock(nn.Module):
    """The CIFAR network's block: expansion cell (T = 3), depthwise 3x3,
    projection cell (T = 4), shortcut when not downsampling and in = out."""

    def __init__(self, input_channel, output_channel, t=6, downsample=False,
                 cells=True):
        super().__init__()
        self.stride = 2 if downsample else 1
        self.shortcut = (not downsample) and input_channel == output_channel
        c = t * input_channel
        self.conv1 = _pointwise(input_channel, c, 3, cells)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, self.stride, 1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = _pointwise(c, output_channel, 4, cells)
        self.bn3 = nn.BatchNorm2d(output_channel)

    def forward(self, inputs):
        x = F.relu6(self.bn1(self.conv1(inputs)))
        x = F.relu6(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return x + inputs if self.shortcut else x


class CifarMobileNetV2(nn.Module):
    """The notebook's CIFAR-10 MobileNetV2 (``MobileNetV2(10, alpha=1)``)."""

    def __init__(self, output_size=10, cells=True):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(32)
        blocks, c_in = [], 32
        for (t, c, n, _), s in zip(MBV2_SETTINGS, CIFAR_STRIDES):
            for i in range(n):
                blocks.append(BaseBlock(c_in, c, t, s == 2 and i == 0, cells))
                c_in = c
        self.bottlenecks = nn.Sequential(*blocks)
        self.conv1 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(1280)
        self.fc = nn.Linear(1280, output_size)
        _notebook_init(self)

    def forward(self, inputs):
        x = F.relu6(self.bn0(self.conv0(inputs)))
        x = self.bottlenecks(x)
        x = F.relu6(self.bn1(self.conv1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _conv_bn_relu6(c_in, c_out, k, stride):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """The ImageNet network's block; ``celltype='seq'`` puts cells on the
    expansion (T = 3) and projection (T = 4) convs."""

    def __init__(self, inp, oup, stride, expand_ratio, celltype):
        super().__init__()
        hidden_dim = round(inp * expand_ratio)
        self.identity = stride == 1 and inp == oup
        cells = celltype != 'cnn'
        dw = [nn.Conv2d(hidden_dim, hidden_dim, 3, stride, 1,
                        groups=hidden_dim, bias=False),
              nn.BatchNorm2d(hidden_dim), nn.ReLU6(inplace=True)]
        expand = [] if expand_ratio == 1 else [
            _pointwise(inp, hidden_dim, 3, cells), nn.BatchNorm2d(hidden_dim),
            nn.ReLU6(inplace=True)]
        # the t = 1 block's projection is always a plain conv
        project = _pointwise(hidden_dim, oup, 4, cells and expand_ratio != 1)
        self.conv = nn.Sequential(*expand, *dw, project, nn.BatchNorm2d(oup))

    def forward(self, x):
        return x + self.conv(x) if self.identity else self.conv(x)


class MobileNetV2(nn.Module):
    """The notebook's ImageNet MobileNetV2 (``MobileNetV2()``: 1000 classes,
    width 1.0); ``num_plain_blocks`` = 5 there (``total <= 4``)."""

    def __init__(self, num_classes=1000, num_plain_blocks=5):
        super().__init__()
        layers, c_in, total = [_conv_bn_relu6(3, 32, 3, 2)], 32, 0
        for t, c, n, s in MBV2_SETTINGS:
            for i in range(n):
                celltype = 'cnn' if total < num_plain_blocks else 'seq'
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1,
                                               t, celltype))
                c_in, total = c, total + 1
        self.features = nn.Sequential(*layers)
        self.conv = _conv_bn_relu6(c_in, 1280, 1, 1)
        self.classifier = nn.Linear(1280, num_classes)
        _notebook_init(self, linear_std=0.01)

    def forward(self, x):
        x = self.conv(self.features(x))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _cell_tensors(m):
    """A cell's tensors in one order: V, U, alpha, beta, V's and U's bias
    (``Seq_CNN`` or rla_mm's ``CSRConv``, told apart by their names)."""
    if hasattr(m, 'param_u'):
        return [m.param_u, m.param_v, m.alpha, m.beta, m.bias_u, m.bias_v]
    v, u = m.input_conv, m.recurrent_conv
    return [v.weight, u.weight if u is not None else None,
            getattr(m, 'alpha', None), getattr(m, 'beta', None), v.bias,
            u.bias if u is not None else None]


def _tensors_in_order(model):
    out, cells = [], []
    for name, m in model.named_modules():
        if any(name.startswith(c + '.') or c == '' for c in cells):
            continue  # the convs inside a cell
        if hasattr(m, 'param_u') or hasattr(m, 'input_conv'):
            cells.append(name)
            out.append(('cell', _cell_tensors(m)))
        elif isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            out.append((type(m).__name__, list(m.state_dict(
                keep_vars=True).values())))
    return out


@torch.no_grad()
def copy_weights(src, dst):
    """Copy every conv, cell, BN and linear layer of ``src`` into the one at
    the same place in ``dst``'s module order (e.g. a ``CifarMobileNetV2`` and
    an rla_mm classifier with a ``CSRMobileNetV2CIFAR`` backbone). A tensor
    that only one side has must be unused (U at T = 1)."""
    src_layers, dst_layers = _tensors_in_order(src), _tensors_in_order(dst)
    pairs = list(zip(src_layers, dst_layers))
    if len(src_layers) != len(dst_layers) or any(a[0] != b[0]
                                                 for a, b in pairs):
        raise ValueError('the two networks have different layer sequences')
    for (_, src_tensors), (_, dst_tensors) in pairs:
        for a, b in zip(src_tensors, dst_tensors):
            if a is not None and b is not None:
                b.copy_(a.reshape(b.shape))
