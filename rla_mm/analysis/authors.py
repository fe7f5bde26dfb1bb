"""The authors' RLA-ResNet forward on an rla_mm ``RLAResNet``'s weights.

A timing baseline for ``tools/analysis_tools/benchmark.py --authors``: how
fast would the same network run as the authors wrote it (RLA paper, Zhao,
Fang, Li, *Recurrence along Depth: Deep Convolutional Neural Networks with
Recurrent Layer Aggregation*, NeurIPS 2021, arXiv:2110.11852; Sec. 3.3,
Fig. 3)? Their forward concatenates ``cat(x, h)`` before every conv1, adds the
shortcut in place (so y aliases the block output), pools h with
``AvgPool2d(2, 2)`` at strided blocks, starts from a zero h, and computes
``h = recurrent_conv(tanh(BN_j(h + conv_out(y))))`` after every block, the
last stage's final update included.

There is ONE port of that forward in the project,
``rla_mm.testing.authors_rlanet.RLA_ResNet``, under the authors' own module
names; :class:`AuthorsRLAResNet` builds it to the backbone's shapes and fills
it through the checkpoint converter's key mapping (the same mapping that
turns the authors' released checkpoints into rla_mm ones, read backwards).

Example:
    >>> from rla_mm.models import RLAResNet
    >>> ours = RLAResNet(depth=18, out_indices=(0, 1, 2, 3)).eval()
    >>> port = AuthorsRLAResNet(ours).eval()
    >>> x = torch.rand(2, 3, 64, 64)
    >>> [tuple(o.shape) for o in port(x)]  # the same outputs as ours(x)
    [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
"""
from typing import Dict, Set, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['AuthorsRLAResNet']


def _port_config(backbone: nn.Module) -> Tuple[type, list, int, tuple]:
    """(block class, blocks per stage, k, ECA kernels) of the authors'
    network with the backbone's structure; ValueError for what their code
    cannot express."""
    from rla_mm.models import RLAResNet
    from rla_mm.testing.authors_rlanet import RLA_BasicBlock, RLA_Bottleneck
    if not isinstance(backbone, RLAResNet):
        raise ValueError("the authors' forward runs RLAResNet / RLAECAResNet "
                         f'backbones only, got {type(backbone).__name__}')
    layers = [getattr(backbone, name) for name in backbone.res_layers]
    sources = {getattr(layer[j], 'rla_source', None)
               for layer in layers for j in range(len(layer))}
    settings = dict(
        rla_source=(sources.pop() if len(sources) == 1 else sources,
                    'output'),
        style=(backbone.style, 'pytorch'),
        strides=(tuple(backbone.strides), (1, 2, 2, 2)),
        dilations=(tuple(backbone.dilations), (1, 1, 1, 1)),
        num_stages=(backbone.num_stages, 4),
        deep_stem=(backbone.deep_stem, False),
        avg_down=(backbone.avg_down, False))
    for name, (got, needed) in settings.items():
        if got != needed:
            raise ValueError(
                f"the authors' RLA-ResNet has {name}={needed!r}; this "
                f'backbone has {name}={got!r}, which their forward cannot '
                'run')
    state = backbone.state_dict()
    bottleneck = 'layer1.0.conv3.weight' in state
    stage_blocks = [len(layer) for layer in layers]
    k = state['layer1.rla.conv_out.weight'].shape[0]
    eca = None
    if 'layer1.0.eca.conv.weight' in state:
        eca = tuple(state[f'layer{s}.0.eca.conv.weight'].shape[-1]
                    for s in range(1, 5))
    return (RLA_Bottleneck if bottleneck else RLA_BasicBlock), stage_blocks, \
        k, eca


def _module_of(key: str) -> str:
    return key.rsplit('.', 1)[0]


class AuthorsRLAResNet(nn.Module):
    """A backbone that runs the authors' forward on another's weights.

    The port's modules hold copies of the backbone's tensors (made at
    construction), its parameters keep the backbone's ``requires_grad``
    (``frozen_stages``) and, in training mode, the BatchNorms that the
    backbone keeps in eval mode (``norm_eval``, frozen stages) stay in eval
    mode too, so a training step does the same work. The last stage's final
    h update, which rla_mm does not build in detection mode, keeps a fresh
    BN: the authors' forward computes it anyway.

    Args:
        backbone (RLAResNet): With the authors' structure: ``style='pytorch'``,
            4 stages, strides (1, 2, 2, 2), no dilation, no deep stem or
            ``avg_down``, ``rla_source='output'``; any depth, widths and k.

    Raises:
        ValueError: If the backbone is not such an RLAResNet, or a tensor of
            it does not fit the port (naming the key and both shapes).

    Returns (forward):
        tuple[Tensor]: The stage outputs at the backbone's ``out_indices``,
        the last one ``cat(x, ReLU(BN(h)))`` with ``concat_hidden``; for a
        (N, 3, 224, 224) input to a depth-50 backbone with
        ``out_indices=(3,)``: one (N, 2048, 7, 7) tensor.
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        from rla_mm.converters.rlanet import map_backbone_keys
        from rla_mm.testing.authors_rlanet import RLA_ResNet
        block, stage_blocks, k, eca = _port_config(backbone)
        port = RLA_ResNet(block, stage_blocks, num_classes=1, rla_channel=k,
                          ECA=eca)
        del port.fc, port.avgpool  # a backbone: no classifier
        ours = backbone.state_dict()
        reference = ours['conv1.weight']
        # before loading: load_state_dict copies into the port's dtype
        port.to(device=reference.device, dtype=reference.dtype)
        port_state = port.state_dict()
        mapping = map_backbone_keys(port_state, 'rla_resnet')
        filled = self._fill(port_state, ours, mapping, len(stage_blocks),
                            stage_blocks[-1])
        port.load_state_dict(filled)
        ours_params = dict(backbone.named_parameters())
        for key, param in port.named_parameters():
            if mapping[key] in ours_params:
                param.requires_grad_(ours_params[mapping[key]].requires_grad)
        self.port = port
        self.out_indices = tuple(backbone.out_indices)
        self.concat_hidden = bool(getattr(backbone, 'concat_hidden', False))
        self._eval_in_train = self._frozen_norms(backbone, mapping, port)

    @staticmethod
    def _fill(port_state: Dict[str, Tensor], ours: Dict[str, Tensor],
              mapping: Dict[str, str], num_stages: int,
              last_blocks: int) -> Dict[str, Tensor]:
        """The port's state dict with every tensor that rla_mm has."""
        not_built = (f'layer{num_stages}.rla.norms.{last_blocks - 1}.',
                     'hidden_norm.')
        filled, used = {}, set()
        for key, value in port_state.items():
            target = mapping[key]
            if target not in ours:
                if not target.startswith(not_built):
                    raise ValueError(
                        f"the backbone has no {target!r} for the authors' "
                        f'{key!r}: not the structure of their RLA-ResNet')
                filled[key] = value
                continue
            if ours[target].shape != value.shape:
                raise ValueError(
                    f"{target!r} has shape {tuple(ours[target].shape)}, the "
                    f"authors' {key!r} needs {tuple(value.shape)}: their "
                    'RLA-ResNet has other widths (base_channels / '
                    'stem_channels 64, groups 1)')
            filled[key] = ours[target].detach().clone()
            used.add(target)
        unused = sorted(set(ours) - used)
        if unused:
            raise ValueError(
                f"the authors' RLA-ResNet has no place for {unused[:3]} "
                f'({len(unused)} tensors): not their structure')
        return filled

    @staticmethod
    def _frozen_norms(backbone: nn.Module, mapping: Dict[str, str],
                      port: nn.Module) -> Set:
        """Names of the port's BNs to keep in eval mode while training: those
        whose counterparts the backbone keeps so (frozen stages,
        ``norm_eval``) and, with ``norm_eval``, those it does not build."""
        was_training = backbone.training
        backbone.train(True)
        modules = dict(backbone.named_modules())
        frozen = {name for name, m in modules.items()
                  if isinstance(m, _BatchNorm) and not m.training}
        backbone.train(was_training)
        norm_eval = bool(getattr(backbone, 'norm_eval', False))
        names = set()
        for key, target in mapping.items():
            module = _module_of(target)
            if module in frozen or (norm_eval and module not in modules):
                names.add(_module_of(key))
        return {n for n in names
                if isinstance(port.get_submodule(n), _BatchNorm)}

    def train(self, mode: bool = True) -> 'AuthorsRLAResNet':
        super().train(mode)
        if mode:
            for name in self._eval_in_train:
                self.port.get_submodule(name).eval()
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        feats, _, h = self.port.features(x)
        outs = [feats[i] for i in self.out_indices]
        if self.concat_hidden and self.out_indices[-1] == len(feats) - 1:
            hidden = torch.relu(self.port.bn2(h))
            outs[-1] = torch.cat((outs[-1], hidden), dim=1)
        return tuple(outs)
