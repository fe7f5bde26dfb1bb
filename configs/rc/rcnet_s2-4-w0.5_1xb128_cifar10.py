# S_2^4 x 0.5: half-width standard network ([RC-CA] Table 1: 1.258M params,
# CIFAR-10 error 8.32), about as many parameters as R_2^4.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(
    backbone=dict(num_steps=4, share_weights=False, base_channels=32),
    head=dict(in_channels=128))
