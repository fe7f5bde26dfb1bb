"""Plain ports of the authors' RLA-Net ImageNet ablation variants.

Zhao, Fang, Li: "Recurrence along Depth: Deep Convolutional Neural Networks
with Recurrent Layer Aggregation", NeurIPS 2021 (arXiv:2110.11852), Sec. 4.4
(Table 11) and App. B.4. The authors' repository ``fangyanwen1106/RLANet``
publishes one file per variant; this module ports them all with two classes
(``RLAv_ResNet`` for the RLA files, ``ResNet_k`` for ``models/resnet_k.py``)
under the authors' module and parameter names, built and registered in the
authors' order: ``state_dict()`` keys, their order and shapes equal theirs,
and so does the random initialisation drawn under the same seed.
``build_authors_variant(arch)`` takes the authors' model-function names
(``AUTHORS_VARIANT_ARCHS``): ``rla<v>_resnet<depth>`` follows their
``models/resnet_rla_<v>.py`` (``v1p``: ``_v1post``), ``rla_resnet*`` the main
``resnet_rla.py``, ``resnet50_k`` ``resnet_k.py``; the cells follow
``convlstm_unfolded.py`` and ``convgru_unfolded.py``.

The updates of h (``update=``), for stage s and block j, where y is what
``source=`` names:

- ``'pre'`` (Eq. 11): h = W3_s(tanh(BN_sj(h + W1_s(y)))).
- ``'post'``: h = W3_s(tanh(BN_sj(h))) + W1_s(y), also on the first update,
  where h = 0 and W3_s(tanh(BN(0))) is not zero.
- ``'postact'`` (v1post): h = tanh(BN_sj(W3_s(h + W1_s(y)))).
- ``'lstm'``/``'gru'``: u = tanh(BN_sj(W1_s(y))) feeds the authors' cell;
  the ConvLSTM's c is pooled with h. These three have no bn2 (head: h).

The in-place ``out += identity; out = relu(out)`` of the shared files is kept
on purpose: it makes the block's ``y`` (set before the sum) the block OUTPUT,
so ``source='y'`` (main, v1, v2) and ``source='x'`` (v3, v4, which read the
returned x) compute the same network. The unshared file updates h inside
the block before the shortcut sum (made out of place: its header cites an
autograd error), so there y is the residual (bn3 output).
``source='identity'`` (v5, v6) is the shortcut (downsampled or not).

Departures, none of which changes a key or a value: h (and c) live on the
input's device and dtype, where the authors use ``'cuda'`` unless
``model.flops = True`` (cuda-if-available in the main and v1 files): the
``flops`` switch is dropped; so are the unused SE/ResNeXt/dilation options
and the prints. ``layers=``/``rla_channel=`` serve tests (the authors fix
both). Only ``eca_layer`` is imported, from ``authors_rlanet``.
"""
import torch
from torch import nn

from rla_mm.testing.authors_rlanet import ResNetStem, eca_layer

R50, R101, R152 = (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
ECA_SIZES = (5, 5, 5, 7)


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)


class ConvLSTMCell_layer(nn.Module):  # noqa: N801  (the authors' name)
    """``convlstm_unfolded.py`` (from ndrplz/ConvLSTM_pytorch): one conv
    over cat(input, h), no bias, gates split in the order i, f, o, g."""

    def __init__(self, input_dim, hidden_dim, kernel_size=(3, 3),
                 bias=False):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.padding = kernel_size[0] // 2, kernel_size[1] // 2
        self.conv = nn.Conv2d(input_dim + hidden_dim, 4 * hidden_dim,
                              kernel_size, padding=self.padding, bias=bias)

    def forward(self, input_tensor, cur_state):
        h_cur, c_cur = cur_state
        gates = self.conv(torch.cat([input_tensor, h_cur], dim=1))
        i, f, o, g = torch.split(gates, self.hidden_dim, dim=1)
        c_next = torch.sigmoid(f) * c_cur + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_next), c_next


class ConvGRUCell_layer(nn.Module):  # noqa: N801  (the authors' name)
    """``convgru_unfolded.py``: gates [r, z] from one biased conv over
    cat(input, h), each through GroupNorm(1, C, eps=1e-6) and a sigmoid;
    candidate tanh(GN(conv(cat(input, r * h)))); h' = z h + (1 - z) n."""

    def __init__(self, input_channel, output_channel, kernel_size=3):
        super().__init__()
        gru_input_channel = input_channel + output_channel
        pad = kernel_size // 2
        self.gate_conv = nn.Conv2d(gru_input_channel, output_channel * 2,
                                   kernel_size, padding=pad)
        self.reset_gate_norm = nn.GroupNorm(1, output_channel, 1e-6, True)
        self.update_gate_norm = nn.GroupNorm(1, output_channel, 1e-6, True)
        self.output_conv = nn.Conv2d(gru_input_channel, output_channel,
                                     kernel_size, padding=pad)
        self.output_norm = nn.GroupNorm(1, output_channel, 1e-6, True)
        self.activation = nn.Tanh()

    def forward(self, x, h):
        gates = self.gate_conv(torch.cat((x, h), dim=1))
        r, u = torch.split(gates, gates.shape[1] // 2, 1)
        r = torch.sigmoid(self.reset_gate_norm(r))
        u = torch.sigmoid(self.update_gate_norm(u))
        n = self.activation(
            self.output_norm(self.output_conv(torch.cat((x, r * h), dim=1))))
        return u * h + (1 - u) * n


class Bottleneck(nn.Module):
    """``resnet_k.py``'s torchvision-style bottleneck (stride on the 3x3).

    ``h_channels`` widens conv1's input for the RLA blocks; the residual
    branch (``branch``) is shared with them."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 ECA_size=None, h_channels=0, inplace=True):  # noqa: N803
        super().__init__()
        self.conv1 = conv1x1(inplanes + h_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=inplace)
        self.downsample = downsample
        self.stride = stride
        self.eca = None
        if ECA_size is not None:
            self.eca = eca_layer(planes * self.expansion, int(ECA_size))

    def branch(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out if self.eca is None else self.eca(out)

    def forward(self, x):
        out = self.branch(x)
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return self.relu(out)


def make_downsample(inplanes, planes, stride):
    """The authors' projection shortcut (1x1 conv with stride, BN)."""
    if stride == 1 and inplanes == planes * 4:
        return None
    return nn.Sequential(conv1x1(inplanes, planes * 4, stride),
                         nn.BatchNorm2d(planes * 4))


def rla_pre_update(h, y, conv_out, bn, tanh, recurrent_conv):
    """Eq. 11 as the authors compute it: W3(tanh(BN(h + W1(y))))."""
    return recurrent_conv(tanh(bn(h + conv_out(y))))


class RLA_Bottleneck(Bottleneck):  # noqa: N801
    """The ``RLA*_Bottleneck`` of every RLA file.

    ``exchange=False`` (rh): conv1 reads x only. ``unshared=True`` (us): the
    block owns ``conv_out``/``recurrent_conv``/``bn_rla`` and updates h
    (Eq. 11) before the shortcut sum, so y is the residual. Returns
    ``(x, y, shortcut, h, c)``; c (ConvLSTM only, else None) is pooled
    with h."""

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 rla_channel=32, ECA_size=None, exchange=True,
                 unshared=False):  # noqa: N803
        super().__init__(inplanes, planes, stride, downsample,
                         h_channels=rla_channel if exchange else 0,
                         inplace=not unshared)
        self.exchange, self.unshared = exchange, unshared
        if unshared:
            self.conv_out = conv1x1(planes * self.expansion, rla_channel)
            self.recurrent_conv = conv3x3(rla_channel, rla_channel)
            self.bn_rla = nn.BatchNorm2d(rla_channel)
            self.tanh_rla = nn.Tanh()
        self.averagePooling = None  # noqa: N815
        if downsample is not None and stride != 1:
            self.averagePooling = nn.AvgPool2d((2, 2), stride=(2, 2))
        if ECA_size is not None:
            self.eca = eca_layer(planes * self.expansion, int(ECA_size))

    def forward(self, x, h, c=None):
        identity = x
        out = self.branch(torch.cat((x, h), dim=1) if self.exchange else x)
        y = out
        if self.downsample is not None:
            identity = self.downsample(identity)
        if self.averagePooling is not None:
            h = self.averagePooling(h)
            c = None if c is None else self.averagePooling(c)
        if self.unshared:
            h = rla_pre_update(h, y, self.conv_out, self.bn_rla,
                               self.tanh_rla, self.recurrent_conv)
            out = self.relu(out + identity)
        else:
            out += identity  # in place: y aliases the block output
            out = self.relu(out)
        return out, y, identity, h, c


def init_like_authors(model):
    """The authors' init: kaiming_normal (fan_out) on every Conv2d weight,
    BN/GN weight 1 and bias 0, then every bn3 weight 0; conv biases, Conv1d
    (ECA) and the FC keep PyTorch's defaults."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                    nonlinearity='relu')
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    for m in model.modules():
        if isinstance(m, Bottleneck):
            nn.init.constant_(m.bn3.weight, 0)
    return model


class RLAv_ResNet(ResNetStem):  # noqa: N801
    """Every RLA-ResNet file of the authors, chosen by the options:

    ``source``: ``'y'`` (the block's y), ``'x'`` (its output) or
    ``'identity'`` (its shortcut); ``update``: ``'pre'``, ``'post'``,
    ``'postact'``, ``'lstm'``, ``'gru'``; ``head``: ``'relu'``/``'tanh'``
    after bn2, or None (no bn2); ``exchange``, ``unshared``: see
    :class:`RLA_Bottleneck`."""
    UPDATES = ('pre', 'post', 'postact', 'lstm', 'gru')

    def __init__(self, layers=R50, num_classes=1000, rla_channel=32,
                 ECA=None, source='y', update='pre', head='relu',
                 exchange=True, unshared=False):  # noqa: N803
        super().__init__(inplace=not unshared)
        assert source in ('y', 'x', 'identity') and update in self.UPDATES
        assert head in ('relu', 'tanh', None) and len(layers) == 4
        assert not unshared or (update, source) == ('pre', 'y')
        ECA = ECA or (None, ) * 4  # noqa: N806
        self.source, self.update, self.head = source, update, head
        self.exchange, self.unshared = exchange, unshared
        self.rla_channel = rla_channel
        made = [self._make_layer(planes, layers[i], ECA[i], 1 if i == 0 else 2)
                for i, planes in enumerate((64, 128, 256, 512))]
        stages, stage_bns, conv_outs, recurrent_convs = zip(*made)
        if not unshared:
            self.conv_outs = nn.ModuleList(conv_outs)
            self.recurrent_convs = nn.ModuleList(recurrent_convs)
        self.stages = nn.ModuleList(stages)
        if not unshared:
            self.stage_bns = nn.ModuleList(stage_bns)
        self.tanh = nn.Tanh()
        if head is not None:
            self.bn2 = nn.BatchNorm2d(rla_channel)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * 4 + rla_channel, num_classes)
        init_like_authors(self)

    def _make_layer(self, planes, blocks, ECA_size, stride):  # noqa: N803
        k, conv_out, recurrent = self.rla_channel, None, None
        if not self.unshared:  # built first, as the authors do
            conv_out = conv1x1(planes * 4, k)
            cell = dict(lstm=ConvLSTMCell_layer,
                        gru=ConvGRUCell_layer).get(self.update)  # 3x3 cells
            recurrent = conv3x3(k, k) if cell is None else cell(k, k)
        downsample = make_downsample(self.inplanes, planes, stride)
        layers = []
        for j in range(blocks):
            layers.append(RLA_Bottleneck(
                self.inplanes, planes, stride if j == 0 else 1,
                downsample if j == 0 else None, k, ECA_size, self.exchange,
                self.unshared))
            self.inplanes = planes * 4
        bns = None if self.unshared else nn.ModuleList(
            nn.BatchNorm2d(k) for _ in range(blocks))
        return nn.ModuleList(layers), bns, conv_out, recurrent

    def _update(self, s, j, y, h, c):
        bn, conv_out = self.stage_bns[s][j], self.conv_outs[s]
        recurrent = self.recurrent_convs[s]
        if self.update == 'pre':
            return rla_pre_update(h, y, conv_out, bn, self.tanh, recurrent), c
        if self.update == 'post':
            return recurrent(self.tanh(bn(h))) + conv_out(y), c
        if self.update == 'postact':
            return self.tanh(bn(recurrent(h + conv_out(y)))), c
        u = self.tanh(bn(conv_out(y)))
        if self.update == 'lstm':
            return recurrent(u, (h, c))
        return recurrent(u, h), c

    def features(self, x):
        """Stage outputs and the final x and h (before the head)."""
        x = self.stem(x)
        batch, _, height, width = x.size()
        h = x.new_zeros(batch, self.rla_channel, height, width)
        c = h.clone() if self.update == 'lstm' else None
        feats = []
        for s, layers in enumerate(self.stages):
            for j, layer in enumerate(layers):
                x, y, identity, h, c = layer(x, h, c)
                if not self.unshared:
                    src = dict(y=y, x=x, identity=identity)[self.source]
                    h, c = self._update(s, j, src, h, c)
            feats.append(x)
        return feats, x, h

    def forward(self, x):
        _, x, h = self.features(x)
        if self.head is not None:
            h = self.bn2(h)
            h = self.relu(h) if self.head == 'relu' else self.tanh(h)
        x = torch.flatten(self.avgpool(torch.cat((x, h), dim=1)), 1)
        return self.fc(x)


class ResNet_k(ResNetStem):  # noqa: N801
    """``resnet_k.py``: a plain ResNet with planes + int(channel_k / 4)."""

    def __init__(self, layers=R50, num_classes=1000, ECA=None,
                 channel_k=32):  # noqa: N803
        super().__init__()
        ECA = ECA or (None, ) * 4  # noqa: N806
        add_k = int(channel_k / 4)
        for i, planes in enumerate((64, 128, 256, 512)):
            setattr(self, f'layer{i + 1}', self._make_layer(
                planes + add_k, layers[i], ECA[i], 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear((512 + add_k) * 4, num_classes)
        init_like_authors(self)

    def _make_layer(self, planes, blocks, ECA_size, stride):  # noqa: N803
        downsample = make_downsample(self.inplanes, planes, stride)
        layers = [Bottleneck(self.inplanes, planes, stride, downsample,
                             ECA_size)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, ECA_size=ECA_size)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_GRU = dict(update='gru', head=None)
# arch -> (blocks per stage, ECA kernel sizes, RLAv_ResNet options)
_ARCHS = {
    **{f'rla_resnet{depth}{tail}': (layers, eca, {})
       for depth, layers in ((50, R50), (101, R101), (152, R152))
       for tail, eca in (('', None), ('_eca', ECA_SIZES))},
    'rlav1_resnet50': (R50, None, dict(head='tanh')),
    'rlav1_resnet50_eca': (R50, ECA_SIZES, dict(head='tanh')),
    'rlav2_resnet50': (R50, None, dict(update='post')),
    'rlav3_resnet50': (R50, None, dict(source='x')),
    'rlav4_resnet50': (R50, None, dict(source='x', update='post')),
    'rlav5_resnet50': (R50, None, dict(source='identity')),
    'rlav6_resnet50': (R50, None, dict(source='identity', update='post')),
    'resnet50_k': (R50, None, None),
    'rlarh_resnet50': (R50, None, dict(exchange=False)),
    'rlaus_resnet50': (R50, None, dict(unshared=True)),
    'rlaus_resnet101': (R101, None, dict(unshared=True)),
    'rlav1p_resnet50': (R50, None, dict(update='postact', head=None)),
    'rlalstm_resnet50': (R50, None, dict(update='lstm', head=None)),
    'rlagru_resnet50': (R50, None, _GRU),
    'rlagru_resnet50_eca': (R50, ECA_SIZES, _GRU),
    'rlagru_resnet101': (R101, None, _GRU),
    'rlagru_resnet101_eca': (R101, ECA_SIZES, _GRU),
}
AUTHORS_VARIANT_ARCHS = tuple(_ARCHS)


def build_authors_variant(arch: str, num_classes: int = 1000, layers=None,
                          rla_channel: int = 32) -> nn.Module:
    """The authors' model function ``arch`` (see the module docstring).

    ``layers`` (blocks per stage) and ``rla_channel`` (k; for
    ``resnet50_k`` the ``channel_k`` added, a multiple of 4) default to the
    authors' values and exist so that tests can build tiny models."""
    if arch not in _ARCHS:
        raise KeyError(f'unknown arch {arch!r}; expected one of '
                       f'{", ".join(AUTHORS_VARIANT_ARCHS)}')
    default_layers, eca, options = _ARCHS[arch]
    layers = tuple(layers or default_layers)
    if options is None:
        return ResNet_k(layers, num_classes, eca, channel_k=rla_channel)
    return RLAv_ResNet(layers, num_classes, rla_channel, eca, **options)
