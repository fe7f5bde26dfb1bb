"""Plain references for CRC (RecNets Eq. 2-4) and CSR-Conv (CSR paper Eq. 2).

Deliberately naive: one step at a time, straight from the equations, every
segment sliced out of x and convolved on its own, the hidden states
concatenated at the end; zero initial states are real zero tensors. They read
the weights of an rla_mm module, so the fast paths can be compared with them
number for number (and the CRC benchmark times the fast path against
``crc_reference``).
"""
import math

import torch
import torch.nn.functional as F


def crc_reference(x, crc):
    """Eq. 3 (and Eq. 2 / 4) as a per-step loop, with ``crc``'s weights."""
    d, s_in = crc.num_steps, crc.seg_in
    w_x, b = crc.conv_x.weight, crc.conv_x.bias
    w_h = crc.conv_h.weight
    pad_h = crc.conv_h.padding
    hidden = []
    for i in range(d):
        x_i = x[:, i * s_in:(i + 1) * s_in]
        pre = F.conv2d(x_i, w_x, b, crc.conv_x.stride, crc.conv_x.padding,
                       crc.conv_x.dilation)
        if i > 0:
            pre = pre + F.conv2d(hidden[-1], w_h, None, 1, pad_h,
                                 crc.conv_h.dilation)
        if crc.nonlinearity == 'separate_bn_relu':
            h = F.relu(crc.norms[i](pre))
        elif crc.nonlinearity == 'shared_bn_relu':
            h = F.relu(crc.norm(pre))
        elif crc.nonlinearity == 'relu':
            h = F.relu(pre)
        else:  # linear (Eq. 4)
            h = pre
        hidden.append(h)
    out = torch.cat(hidden, dim=1)
    if crc.nonlinearity == 'linear':
        out = F.relu(crc.norm(out))
    return out


def recurrent_module_reference(x, module):
    """The plain composition TB(CRC(x)) of a Recurrent module (Sec. 2.2)."""
    tb = module.transition
    y = F.conv2d(crc_reference(x, module.crc), tb.conv.weight)
    return F.relu(tb.norm(y))


def csr_conv_reference(x, layer):
    """CSR-Conv Eq. 2 (and the GRU / LSTM cells, and the authors' 'ode'
    cell: copied fill, h_1 = V x_1, h_t = (1 - beta) U h + alpha ReLU(V x_t
    + U h)) as a per-step loop."""
    n, c, _, _ = x.shape
    t_steps = layer.num_steps
    d = math.ceil(c / t_steps)
    fill = x[:, :d * t_steps - c] if layer.cell == 'ode' else x.new_zeros(
        n, d * t_steps - c, *x.shape[2:])
    xp = torch.cat([x, fill], 1)
    v, u = layer.input_conv, layer.recurrent_conv

    def conv_v(x_t):
        return F.conv2d(x_t, v.weight, v.bias, v.stride, v.padding,
                        v.dilation)

    def conv_u(h):
        if u is None:  # T = 1: U is not built, U * h_0 = U * 0 = 0
            return h.new_zeros(h.shape[0], conv_v(xp[:, :d]).shape[1],
                               *h.shape[2:])
        return F.conv2d(h, u.weight, u.bias, 1, u.padding, u.dilation)

    big_d = layer.hidden_channels
    out_hw = conv_v(xp[:, :d]).shape[2:]
    h = x.new_zeros(n, big_d, *out_hw)  # h_0 = 0
    c_state = x.new_zeros(n, big_d, *out_hw)
    hidden = []
    for t in range(t_steps):
        x_t = xp[:, t * d:(t + 1) * d]
        if layer.cell == 'rnn':
            h = F.relu(conv_u(h) + conv_v(x_t))
        elif layer.cell == 'ode':
            r = conv_u(h) if t else 0
            h = conv_v(x_t) if t == 0 else (1 - layer.beta) * r + \
                layer.alpha * F.relu(conv_v(x_t) + r)
        elif layer.cell == 'gru':
            vz, vr, vn = conv_v(x_t).chunk(3, 1)
            uz, ur, un = conv_u(h).chunk(3, 1)
            z = torch.sigmoid(vz + uz)
            r = torch.sigmoid(vr + ur)
            cand = torch.tanh(vn + r * un)
            h = (1 - z) * cand + z * h
        else:  # lstm
            gi, gf, gg, go = (conv_v(x_t) + conv_u(h)).chunk(4, 1)
            c_state = torch.sigmoid(gf) * c_state + \
                torch.sigmoid(gi) * torch.tanh(gg)
            h = torch.sigmoid(go) * torch.tanh(c_state)
        hidden.append(h)
    return torch.cat(hidden, dim=1)[:, :layer.out_channels]
