"""A deliberately plain RLA-ResNet forward, written straight from the paper.

RLA paper Sec. 3.3 / Eq. (11) / Fig. 3, plus the fact from the authors' code
that y aliases the block output (``rla_source='output'``). Everything here is
functional and unoptimised: cat, loop, one op at a time. It reads the weights of
an ``RLAResNet`` but none of its code, so the tests can assert that the
backbone (and any later speed work on it) computes exactly this.
Only ``style='pytorch'``, ``deep_stem=False``, ``avg_down=False`` and
``groups=1`` are covered. ``reference_cifar_forward`` does the same for the
CIFAR RLA-ResNets (App. B.1), pre- and post-activation.
"""
import torch
import torch.nn.functional as F


def _bn(x, bn, training):
    # Batch statistics in training mode, running statistics otherwise; never
    # updates the module's buffers.
    return F.batch_norm(x, bn.running_mean.clone(), bn.running_var.clone(),
                        bn.weight, bn.bias, training, 0.0, bn.eps)


def _eca(x, eca):
    n, c = x.shape[:2]
    w = eca.conv.weight
    s = F.conv1d(x.mean((2, 3)).view(n, 1, c), w, padding=w.shape[-1] // 2)
    return x * torch.sigmoid(s).view(n, c, 1, 1)


def reference_forward(model, x, rla_source='output', training=False):
    """Run ``model`` (an RLAResNet) the plain way; returns the out_indices."""
    x = F.relu(_bn(F.conv2d(x, model.conv1.weight, stride=2, padding=3),
                   model.norm1, training))
    x = F.max_pool2d(x, 3, 2, 1)
    h = torch.zeros(x.shape[0], model.rla_channel, x.shape[2], x.shape[3])
    outs = []
    for s, name in enumerate(model.res_layers):
        layer = getattr(model, name)
        for j in range(len(layer)):
            blk = layer[j]
            stride = blk.stride
            dil = blk.conv2.dilation[0] if hasattr(blk, 'conv3') else \
                blk.conv1.dilation[0]
            xh = torch.cat([x, h], dim=1)
            if hasattr(blk, 'conv3'):  # Bottleneck
                o = F.relu(_bn(F.conv2d(xh, blk.conv1.weight), blk.norm1,
                               training))
                o = F.relu(_bn(F.conv2d(o, blk.conv2.weight, stride=stride,
                                        padding=dil, dilation=dil),
                               blk.norm2, training))
                o = _bn(F.conv2d(o, blk.conv3.weight), blk.norm3, training)
            else:  # BasicBlock
                o = F.relu(_bn(F.conv2d(xh, blk.conv1.weight, stride=stride,
                                        padding=dil, dilation=dil),
                               blk.norm1, training))
                o = _bn(F.conv2d(o, blk.conv2.weight, padding=1), blk.norm2,
                        training)
            if blk.eca is not None:
                o = _eca(o, blk.eca)
            if blk.downsample is None:
                identity = x
            else:
                identity = _bn(F.conv2d(x, blk.downsample[0].weight,
                                        stride=stride),
                               blk.downsample[1], training)
            out = F.relu(o + identity)
            y = out if rla_source == 'output' else o
            if stride != 1:
                h = F.avg_pool2d(h, stride, stride, ceil_mode=True)
            if j < layer.num_updates:
                rla = layer.rla
                h = h + F.conv2d(y, rla.conv_out.weight)
                h = torch.tanh(_bn(h, rla.norms[j], training))
                h = F.conv2d(h, rla.recurrent_conv.weight, padding=1)
            x = out
        if s in model.out_indices:
            if model.concat_hidden and s == model.num_stages - 1:
                outs.append(torch.cat(
                    [x, F.relu(_bn(h, model.hidden_norm, training))], dim=1))
            else:
                outs.append(x)
    return tuple(outs)


def reference_cifar_forward(model, x, training=False):
    """Plain forward of an RLAResNetCIFAR from its weights (pre- and
    post-activation, pytorch style, no dilation); returns the last output."""
    pre = model.preact
    x = F.conv2d(x, model.conv1.weight, padding=1)
    if not pre:
        x = F.relu(_bn(x, model.norm1, training))
    h = torch.zeros(x.shape[0], model.rla_channel, *x.shape[2:])
    for name in model.res_layers:
        layer = getattr(model, name)
        for j in range(len(layer)):
            blk = layer[j]
            s = blk.stride
            a = torch.cat([x, h], 1)
            bottleneck = hasattr(blk, 'conv3')
            convs = [(blk.conv1, 0 if bottleneck else 1, 1 if bottleneck
                      else s), (blk.conv2, 1, s if bottleneck else 1)]
            if bottleneck:
                convs.append((blk.conv3, 0, 1))
            norms = [blk.norm1, blk.norm2] + ([blk.norm3] if bottleneck
                                              else [])
            o = a
            for i, ((conv, pad, stride), norm) in enumerate(zip(convs,
                                                                norms)):
                if pre:
                    o = F.relu(_bn(o, norm, training))
                    o = F.conv2d(o, conv.weight, stride=stride, padding=pad)
                else:
                    o = _bn(F.conv2d(o, conv.weight, stride=stride,
                                     padding=pad), norm, training)
                    o = F.relu(o) if i < len(convs) - 1 else o
            identity = x
            if blk.downsample is not None:
                identity = F.conv2d(x, blk.downsample[0].weight, stride=s)
                if not pre:
                    identity = _bn(identity, blk.downsample[1], training)
            out = o + identity if pre else F.relu(o + identity)
            y = out if blk.rla_source == 'output' else o
            if s != 1:
                h = F.avg_pool2d(h, s, s, ceil_mode=True)
            if j < layer.num_updates:
                h = h + F.conv2d(y, layer.rla.conv_out.weight)
                h = torch.tanh(_bn(h, layer.rla.norms[j], training))
                h = F.conv2d(h, layer.rla.recurrent_conv.weight, padding=1)
            x = out
    if pre:
        x = F.relu(_bn(x, model.final_norm, training))
    return torch.cat([x, F.relu(_bn(h, model.hidden_norm, training))], 1)
