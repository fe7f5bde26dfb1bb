"""A deliberately plain RLA-ResNet forward, written straight from the paper.

RLA paper Sec. 3.3 / Eq. (11) / Fig. 3, plus the fact from the authors' code
that y aliases the block output (``rla_source='output'``). Everything here is
functional and unoptimised: cat, loop, one op at a time. It reads the weights of
an ``RLAResNet`` but none of its code, so the tests can assert that the
backbone (and any later speed work on it) computes exactly this.
Only ``style='pytorch'``, ``deep_stem=False``, ``avg_down=False`` and
``groups=1`` are covered. ``reference_cifar_forward`` does the same for the
CIFAR RLA-ResNets (App. B.1), pre- and post-activation. Both cover the
ablation variants of Sec. 4.4 / App. B.4 (:func:`reference_update`, written
from the authors' variant files): the update after the recurrent conv
("post"), unshared convs, the post-activated, ConvLSTM and ConvGRU cells,
y = the shortcut, conv1 without h, and the head without norm or with tanh.
The state starts as real zeros (h, and the ConvLSTM's c).
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


def _conv_weight(unit, name, j):
    """W1 (``conv_out``) or W3 (``recurrent_conv``) of update j, shared or
    one per update (``conv_outs`` / ``recurrent_convs``)."""
    convs = getattr(unit, name + 's', None)
    return (convs[j] if convs is not None else getattr(unit, name)).weight


def _gn(x, gn):
    return F.group_norm(x, gn.num_groups, gn.weight, gn.bias, gn.eps)


def reference_update(unit, j, state, y, training=False):
    """Update j of an RLA unit, one op at a time: Eq. (11) (``'pre'``), the
    update after the recurrent conv (``'post'``), or the cell of the
    authors' post-activated / ConvLSTM / ConvGRU file; ``state`` is h, or
    ``(h, c)`` for the ConvLSTM, never None."""
    p = F.conv2d(y, _conv_weight(unit, 'conv_out', j))
    bn = unit.norms[j]
    cell = type(unit).__name__
    if cell == 'RLAConvLSTMUnit':
        h, c = state
        u = torch.tanh(_bn(p, bn, training))
        g = F.conv2d(torch.cat([u, h], 1), unit.gate_conv.weight, padding=1)
        i, f, o, g = g.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if cell == 'RLAConvGRUUnit':
        u = torch.tanh(_bn(p, bn, training))
        a = F.conv2d(torch.cat([u, state], 1), unit.gate_conv.weight,
                     unit.gate_conv.bias, padding=1)
        r, z = a.chunk(2, 1)
        r = torch.sigmoid(_gn(r, unit.reset_gate_norm))
        z = torch.sigmoid(_gn(z, unit.update_gate_norm))
        n = F.conv2d(torch.cat([u, r * state], 1), unit.output_conv.weight,
                     unit.output_conv.bias, padding=1)
        n = torch.tanh(_gn(n, unit.output_norm))
        return z * state + (1 - z) * n
    w3 = _conv_weight(unit, 'recurrent_conv', j)
    if cell == 'RLAPostActUnit':
        return torch.tanh(_bn(F.conv2d(state + p, w3, padding=1), bn,
                              training))
    if unit.post:
        return F.conv2d(torch.tanh(_bn(state, bn, training)), w3,
                        padding=1) + p
    return F.conv2d(torch.tanh(_bn(state + p, bn, training)), w3, padding=1)


def _zero_state(model, x):
    h = torch.zeros(x.shape[0], model.rla_channel, *x.shape[2:],
                    dtype=x.dtype)
    cell = model.stage_cfg.get('rla_cell', 'rnn')
    return (h, torch.zeros_like(h)) if cell == 'convlstm' else h


def _hidden(state):
    return state[0] if isinstance(state, tuple) else state


def _pool(state, stride):
    if isinstance(state, tuple):
        return tuple(_pool(s, stride) for s in state)
    return F.avg_pool2d(state, stride, stride, ceil_mode=True)


def _block_input(x, h, conv):
    """What the block's first op reads: cat(x, h), or x alone when its
    weights have no h inputs (no exchange, or no RLA)."""
    return x if conv.weight.shape[1] == x.shape[1] else torch.cat([x, h], 1)


def _head(model, x, state, training):
    """cat(x, act(BN(h))), or cat(x, h) for the cells without head norm."""
    h = _hidden(state)
    if model.hidden_norm is None:
        return torch.cat([x, h], 1)
    act = torch.tanh if model.hidden_act == 'tanh' else F.relu
    return torch.cat([x, act(_bn(h, model.hidden_norm, training))], 1)


def _y(rla_source, out, residual, identity):
    return dict(output=out, residual=residual, shortcut=identity)[rla_source]


def reference_forward(model, x, rla_source='output', training=False):
    """Run ``model`` (an RLAResNet) the plain way; returns the out_indices."""
    x = F.relu(_bn(F.conv2d(x, model.conv1.weight, stride=2, padding=3),
                   model.norm1, training))
    x = F.max_pool2d(x, 3, 2, 1)
    state = _zero_state(model, x)
    outs = []
    for s, name in enumerate(model.res_layers):
        layer = getattr(model, name)
        for j in range(len(layer)):
            blk = layer[j]
            stride = blk.stride
            dil = blk.conv2.dilation[0] if hasattr(blk, 'conv3') else \
                blk.conv1.dilation[0]
            xh = _block_input(x, _hidden(state), blk.conv1)
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
            y = _y(rla_source, out, o, identity)
            if stride != 1:
                state = _pool(state, stride)
            if j < layer.num_updates:
                state = reference_update(layer.rla, j, state, y, training)
            x = out
        if s in model.out_indices:
            if model.concat_hidden and s == model.num_stages - 1:
                outs.append(_head(model, x, state, training))
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
    state = _zero_state(model, x)
    for name in model.res_layers:
        layer = getattr(model, name)
        for j in range(len(layer)):
            blk = layer[j]
            s = blk.stride
            a = _block_input(x, _hidden(state), blk.conv1)
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
            y = _y(blk.rla_source, out, o, identity)
            if s != 1:
                state = _pool(state, s)
            if j < layer.num_updates:
                state = reference_update(layer.rla, j, state, y, training)
            x = out
    if pre:
        x = F.relu(_bn(x, model.final_norm, training))
    return _head(model, x, state, training)
