# R_2^3 ([RC-CA] Table 1: 1.262M params, CIFAR-10 error 8.44). Unrolled
# depth 14 -> 160 epochs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=3))
