"""Cost-adjustable training of RC networks.

[RC-CA] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809,
Sec. 4.2 and Alg. 2: every training iteration draws ONE
unrolling step t from a fixed discrete distribution S and unrolls every RC
cell t times; at inference any step with non-zero probability can be chosen
(Alg. 1).
"""
from collections import Counter
from typing import Dict, Optional

import numpy as np
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RCStepSamplerHook(Hook):
    """Draw one unified unrolling step per training iteration (Alg. 2).

    Before each training iteration a step t is drawn from ``step_probs`` and
    set (``set_num_steps``) on every module of the model that can change its
    steps (``AdjustableStepsMixin``: ``RCNet``, ``RCResNet``). Before
    validation and testing, and after training, each such module gets back
    the steps it was built with - ``model.backbone.num_steps`` in the config,
    default its ``max_steps`` - so the step used at test time is chosen in the
    config or with ``--cfg-options model.backbone.num_steps=2``. That step
    must have non-zero probability: at any other step the model would run BN
    groups that were never trained, so the hook raises ``ValueError``.

    The draw of iteration i depends only on ``(seed, i)``: every rank of a
    distributed run draws the same t (they must run the same graph; steps
    that were not drawn leave BN groups unused, so distributed configs set
    ``find_unused_parameters=True``) and a resumed run continues the same
    sequence.

    Args:
        step_probs (dict[int, float]): The distribution S, step -> prob,
            e.g. ``{2: 0.2, 3: 0.3, 4: 0.5}`` ([RC-CA] Sec. 5.3). Probabilities
            must be >= 0 and sum to 1.
        per_cell (bool): Draw every cell's step independently instead of one
            unified step (Sec. 4.2 found this hard to train); with double
            independent BN the backbone needs ``unified_steps=False``.
            Default False.
        seed (int, optional): Seed of the draws. Default: the runner's seed,
            which mmengine makes equal on all ranks.

    Example:
        >>> custom_hooks = [
        ...     dict(type='RCStepSamplerHook',
        ...          step_probs={2: 0.2, 3: 0.3, 4: 0.5})]
    """

    priority = 'NORMAL'

    def __init__(self,
                 step_probs: Dict[int, float],
                 per_cell: bool = False,
                 seed: Optional[int] = None) -> None:
        if not isinstance(step_probs, dict) or not step_probs:
            raise ValueError('`step_probs` must be a non-empty dict '
                             f'{{step: probability}}, got {step_probs!r}')
        probs = {}
        for step, prob in step_probs.items():
            try:
                step_int = int(step)
            except (TypeError, ValueError):
                step_int = None
            if step_int is None or step_int < 1 or str(step_int) != \
                    str(step).strip():
                raise ValueError('`step_probs` keys must be ints >= 1, got '
                                 f'{step!r}')
            if not isinstance(prob, (int, float)) or not prob >= 0:
                raise ValueError('`step_probs` values must be probabilities '
                                 f'>= 0, got {prob!r} for step {step!r}')
            probs[step_int] = float(prob)
        total = sum(probs.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f'`step_probs` must sum to 1, got {total} ({step_probs!r})')
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise ValueError(f'`seed` must be an int >= 0, got {seed!r}')
        self.support = tuple(sorted(s for s, p in probs.items() if p > 0))
        self.probs = np.array([probs[s] for s in self.support])
        self.probs = self.probs / self.probs.sum()
        self.per_cell = bool(per_cell)
        self.seed = seed
        self.step_counts: Counter = Counter()
        self._targets = []
        self._eval_steps = []
        self._seed = 0 if seed is None else seed  # before_run may replace it

    @staticmethod
    def find_targets(model) -> list:
        """The outermost modules of ``model`` whose steps can be set."""
        # imported here: rla_mm.engine does not import rla_mm.models when it
        # is loaded (models sit above the runtime layer)
        from ...models.backbones.rc_base import AdjustableStepsMixin
        targets, prefixes = [], []
        for name, module in model.named_modules():
            if not isinstance(module, AdjustableStepsMixin):
                continue
            if any(name.startswith(p) for p in prefixes):
                continue
            targets.append(module)
            prefixes.append(name + '.')
        return targets

    def before_run(self, runner) -> None:
        self._targets = self.find_targets(runner.model)
        if not self._targets:
            raise ValueError(
                'RCStepSamplerHook found no module with adjustable steps '
                '(RCNet, RCResNet) in the model')
        for module in self._targets:
            if self.support[-1] > module.max_steps:
                raise ValueError(
                    f'`step_probs` draws up to {self.support[-1]} steps but '
                    f'{type(module).__name__} has max_steps='
                    f'{module.max_steps}')
            if self.per_cell and getattr(module, 'double_bn', False) and \
                    getattr(module, 'unified_steps', True):
                raise ValueError(
                    '`per_cell=True` draws a step per cell: build '
                    f'{type(module).__name__} with `unified_steps=False` so '
                    'that double independent BN has the full matrix of '
                    'groups')
            bad = [t for t in module.cell_steps if t not in self.support]
            if bad:
                raise ValueError(
                    f'{type(module).__name__}.num_steps={module.num_steps} is '
                    'not a step the model trains at; choose one of '
                    f'{self.support} (model.backbone.num_steps)')
        self._eval_steps = [tuple(m.cell_steps) for m in self._targets]
        self._seed = runner.seed if self.seed is None else self.seed
        self._seed = int(self._seed) % 2**63

    def draw(self, iteration: int, size: Optional[int] = None):
        """The step(s) drawn for training iteration ``iteration``."""
        rng = np.random.default_rng([self._seed, int(iteration)])
        steps = rng.choice(self.support, size=size, p=self.probs)
        return int(steps) if size is None else [int(t) for t in steps]

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self.per_cell:
            for k, module in enumerate(self._targets):
                steps = self.draw(runner.iter * len(self._targets) + k,
                                  module.num_cells)
                module.set_num_steps(steps)
                self.step_counts.update(steps)
        else:
            step = self.draw(runner.iter)
            for module in self._targets:
                module.set_num_steps(step)
            self.step_counts[step] += 1

    def _restore(self, runner, phase: Optional[str] = None) -> None:
        for module, steps in zip(self._targets, self._eval_steps):
            module.set_num_steps(list(steps) if len(set(steps)) > 1 else
                                 steps[0])
            if phase:
                runner.logger.info(
                    f'RCStepSamplerHook: {phase} {type(module).__name__} with '
                    f'num_steps={module.num_steps}')

    def before_val_epoch(self, runner) -> None:
        self._restore(runner, 'validating')

    def before_test_epoch(self, runner) -> None:
        self._restore(runner, 'testing')

    def after_train(self, runner) -> None:
        self._restore(runner)
        counts = dict(sorted(self.step_counts.items()))
        runner.logger.info(
            f'RCStepSamplerHook: unrolling steps drawn in training: {counts}')
