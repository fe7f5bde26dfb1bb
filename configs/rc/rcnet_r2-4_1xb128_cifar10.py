# R_2^4 with independent BN ([RC-CA] Table 1: 1.263M params, CIFAR-10 error
# 7.65; Table 2 "Independent"; [RC-MC] Table 2 RC-4). Depth 18 -> 160 epochs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=4, bn_mode='independent'))
