"""Record the RLA hidden state h of a backbone through its depth.

RLA (Zhao, Fang, Li, *Recurrence along Depth: Deep Convolutional Neural
Networks with Recurrent Layer Aggregation*, NeurIPS 2021, arXiv:2110.11852)
carries a hidden state h through the blocks of a CNN and updates it after
every block (Sec. 3.3, Eq. (11)). :class:`HiddenStateRecorder` sees every
update with forward hooks, for ``tools/analysis_tools/visualize_rla.py``'s
figure (in the spirit of the paper's Fig. 2) and for tests.

Example:
    >>> model = RLAResNet(depth=18).eval()
    >>> recorder = HiddenStateRecorder(model)
    >>> _ = model(torch.rand(1, 3, 64, 64))
    >>> recorder.remove()
    >>> recorder.check_complete()
    >>> [(stage, j, tuple(h.shape)) for stage, j, h in recorder.records][:2]
    [('layer1', 0, (32, 16, 16)), ('layer1', 1, (32, 16, 16))]
"""
from collections import OrderedDict

import torch

__all__ = ['HiddenStateRecorder', 'rms']


class HiddenStateRecorder:
    """Record every update of h of an RLA backbone with forward hooks.

    The backbone's RLA units are found by type (``RLAUnit``, one per stage,
    or per group of RLA-MobileNetV2): each update ``index`` of a unit runs
    its norm ``norms[index]`` and ends with its recurrent conv, whose output
    is the new h (Eq. (11)). A hook on every norm notes which update runs,
    a hook on every recurrent conv (once per conv: RLA-MobileNetV2's units
    share one per resolution stage) records its output for that update. So
    updates are seen on every path of the stage runner, the deferred ones
    of the CPU fast path (``RLAUnit.update``) included.

    After a forward pass, ``records`` holds ``(stage name, update index, h)``
    in the order the updates ran, h of the first image as a CPU float tensor
    of shape (k, H, W).

    Args:
        backbone (nn.Module): An rla_mm RLA backbone.

    Raises:
        ValueError: If ``backbone`` has no ``RLAUnit``.
    """

    def __init__(self, backbone):
        from rla_mm.models.layers import RLAUnit
        self.expected = OrderedDict()  # stage name -> number of updates
        self.records = []
        self._handles = []
        self._current = None  # (stage, index) of the update running
        convs = {}
        for name, module in backbone.named_modules():
            if not isinstance(module, RLAUnit):
                continue
            stage = name.rsplit('.', 1)[0] if '.' in name else name
            self.expected[stage] = len(module.norms)
            for index, norm in enumerate(module.norms):
                self._handles.append(
                    norm.register_forward_hook(self._note(stage, index)))
            convs[id(module.recurrent_conv)] = module.recurrent_conv
        for conv in convs.values():
            self._handles.append(conv.register_forward_hook(self._record))
        if not self.expected:
            raise ValueError(
                f'the backbone ({type(backbone).__name__}) has no RLA units '
                '(RLAUnit): visualize_rla.py needs an RLA backbone '
                '(RLAResNet, RLAECAResNet, RLAResNetCIFAR, RLAMobileNetV2)')

    def _note(self, stage, index):

        def hook(module, inputs, output):
            self._current = (stage, index)

        return hook

    def _record(self, module, inputs, output):
        if self._current is None:
            raise RuntimeError('a recurrent conv ran outside an h update')
        stage, index = self._current
        self._current = None
        self.records.append(
            (stage, index, output[0].detach().float().cpu().clone()))

    def check_complete(self):
        """Raise ``RuntimeError`` unless every built update was recorded
        exactly once, in order."""
        for stage, num in self.expected.items():
            got = [j for s, j, _ in self.records if s == stage]
            if got != list(range(num)):
                raise RuntimeError(
                    f'recorded updates {got} of h in {stage}, expected '
                    f'0..{num - 1} (one per norm of its RLA unit): the '
                    'backbone computes h in a way these hooks do not see')

    def remove(self):
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def rms(h: torch.Tensor) -> float:
    """Norm of h comparable across resolutions: ||h||_2 / sqrt(numel)."""
    return float(h.pow(2).mean().sqrt())
