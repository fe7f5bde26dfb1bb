# Cost-adjustable R_2 ([RC-CA] Sec. 4, Sec. 5.3, Table 4: CIFAR-10 error 8.46 /
# 8.08 / 7.87 at 2 / 3 / 4 steps). Double independent BN; every iteration
# unrolls all cells t ~ {2: 0.2, 3: 0.3, 4: 0.5} steps (Alg. 2).
# Test at another step of the support:
#   --cfg-options model.backbone.num_steps=2
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(max_steps=4, double_bn=True, num_steps=4))
custom_hooks = [
    dict(type='RCStepSamplerHook', step_probs={2: 0.2, 3: 0.3, 4: 0.5})
]
# BN groups of steps not drawn in an iteration get no gradient.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
