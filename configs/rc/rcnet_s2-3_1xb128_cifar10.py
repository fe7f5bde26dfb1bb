# S_2^3 ([RC-CA] Table 1: 3.768M params, CIFAR-10 error 7.41). Depth 14.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=3, share_weights=False))
