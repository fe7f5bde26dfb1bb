# R_2^2 ([RC-CA] Table 1: 1.260M params, CIFAR-10 error 8.53; [RC-MC] Table 2
# RC-2: 8.44). Unrolled depth 10 -> 120 epochs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=2))
train_cfg = dict(max_epochs=120)
