"""Plain reference forwards of RCNet and RCResNet, written from the papers.

[RC-CA] Zhang & Jung, Eq. (4), (6), (8), (10), Sec. 5; [RC-MC] App. A.
Everything is torch.nn.functional on the tensors of a state dict, one
explicit Python loop per unrolling step, and nothing imported from rla_mm.
The state-dict names are the contract with the module:

* convs of a block: ``{p}.shared_convs.{0,1}.weight`` (shared over steps) or
  ``{p}.step_convs.{k-1}.{0,1}.weight``; shortcut ``{p}.shortcut.weight``;
* BN groups: ``{p}.norms.{g}.{0,1}.*`` (``{p}.shared_norms.0.*`` for one group
  shared by several steps), g enumerating (context, step) row by row.

Each BN call records its running statistics after the call in ``trace`` (so
tests can check which group saw which input) and each step's input in
``trace['inputs'][(block prefix, step)]``.
"""
import math

import torch
import torch.nn.functional as F


def _bn(x, sd, prefix, training, trace):
    mean = sd[prefix + '.running_mean'].clone()
    var = sd[prefix + '.running_var'].clone()
    out = F.batch_norm(x, mean, var, sd[prefix + '.weight'],
                       sd[prefix + '.bias'], training, 0.1, 1e-5)
    trace.setdefault('calls', []).append(prefix)
    # a second call on the same BN starts from the stats the first one left
    sd[prefix + '.running_mean'], sd[prefix + '.running_var'] = mean, var
    return out


def group_index(step, context, max_steps, num_contexts, triangular):
    """Index of BN group (context, step) in row-major order."""
    if num_contexts == 1:
        return step - 1
    pairs = []
    for c in range(1, num_contexts + 1):
        for k in range(1, max_steps + 1):
            if triangular and k > c:
                continue
            pairs.append((c, k))
    return pairs.index((context, step))


def block_step(x, sd, p, step, *, group, max_steps, share_weights, bn_mode,
               training, trace, stride=1):
    """One step of the pre-activation block: h + conv2(r(bn2(conv1(r(bn1 h)))))
    with a 1x1 shortcut on r(bn1 h) when the shape changes."""
    trace.setdefault('inputs', {})[(p, step)] = x
    if share_weights and max_steps > 1:
        conv = f'{p}.shared_convs'
    else:
        conv = f'{p}.step_convs.{step - 1}'
    if bn_mode == 'shared':
        norm = f'{p}.shared_norms.0' if max_steps > 1 else f'{p}.norms.0'
    else:
        norm = f'{p}.norms.{group}'

    def bn_relu(t, j):
        if bn_mode == 'none':
            return F.relu(t)
        return F.relu(_bn(t, sd, f'{norm}.{j}', training, trace))

    h = bn_relu(x, 0)
    if p + '.shortcut.weight' in sd:
        identity = F.conv2d(h, sd[p + '.shortcut.weight'], stride=stride)
    else:
        identity = x
    out = F.conv2d(h, sd[conv + '.0.weight'], stride=stride, padding=1)
    out = F.conv2d(bn_relu(out, 1), sd[conv + '.1.weight'], padding=1)
    return out + identity


def space_to_depth(x):
    """RealNVP's invertible down-sampling: each 2x2 block becomes 4 channels
    (channel c*4 + 2*i + j holds pixel (i, j) of the block)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h // 2, w // 2)


def rcnet_reference(x, state_dict, steps, *, max_steps, share_weights=True,
                    bn_mode='independent', double_bn=False,
                    unified_steps=True, training=False):
    """Eq. (8): stem -> C_1 -> InvPool -> C_2 ..., steps[i] steps in cell i.

    Returns (outputs of every cell, trace)."""
    sd = {k: v.clone() for k, v in state_dict.items()}
    trace = {}
    x = F.relu(_bn(F.conv2d(x, sd['stem.0.weight'], padding=1), sd,
                   'stem.1', training, trace))
    outs = []
    for i, t in enumerate(steps):
        if i > 0:
            x = space_to_depth(x)
        if double_bn:
            # cell 1: its pooling position depends on its own step count
            context = t if i == 0 else steps[i - 1]
            num_contexts, triangular = max_steps, unified_steps or i == 0
        else:
            context, num_contexts, triangular = 1, 1, True
        for k in range(1, t + 1):
            if t == 1:  # [RC-MC] App. A: RC-1 pools before its only step
                x = F.avg_pool2d(x, 2)
            g = group_index(k, context, max_steps, num_contexts, triangular)
            x = block_step(x, sd, f'cells.{i}', k, group=g,
                           max_steps=max_steps, share_weights=share_weights,
                           bn_mode=bn_mode, training=training, trace=trace)
            if t > 1 and k == math.ceil(t / 2):  # [RC-CA] Sec. 5
                x = F.avg_pool2d(x, 2)
        outs.append(x)
    trace['state_dict'] = sd
    return outs, trace


def rc_resnet_reference(x, state_dict, steps, *, max_steps, stem_type,
                        strides=(1, 2, 2, 2), share_weights=True,
                        bn_mode='independent', double_bn=False,
                        unified_steps=True, training=False):
    """Eq. (10): stem -> (T_i -> C_i^{steps[i]}) per stage.

    Returns (outputs of every stage, trace)."""
    sd = {k: v.clone() for k, v in state_dict.items()}
    trace = {}
    if stem_type == 'cifar':
        x = F.conv2d(x, sd['stem.0.weight'], padding=1)
    else:
        x = F.conv2d(x, sd['stem.0.weight'], stride=2, padding=3)
        x = F.relu(_bn(x, sd, 'stem.1', training, trace))
        x = F.max_pool2d(x, 3, 2, 1)
    outs = []
    for i, t in enumerate(steps):
        context = steps[i - 1] if double_bn and i > 0 else 1
        num_contexts = max_steps if double_bn and i > 0 else 1
        x = block_step(
            x, sd, f'transitions.{i}', 1,
            group=group_index(1, context, 1, num_contexts, True),
            max_steps=1, share_weights=share_weights, bn_mode=bn_mode,
            training=training, trace=trace, stride=strides[i])
        for k in range(1, t + 1):
            g = group_index(k, context, max_steps, num_contexts,
                            unified_steps)
            x = block_step(x, sd, f'cells.{i}', k, group=g,
                           max_steps=max_steps, share_weights=share_weights,
                           bn_mode=bn_mode, training=training, trace=trace)
        outs.append(x)
    trace['state_dict'] = sd
    return outs, trace
