# R_2^1 ([RC-CA] Table 1: 1.259M params, CIFAR-10 error 14.46; [RC-MC]
# Table 2 RC-1: 14.77). Unrolled depth 6 -> 120 epochs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=1))
train_cfg = dict(max_epochs=120)
