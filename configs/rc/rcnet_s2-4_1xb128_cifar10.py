# S_2^4 ([RC-CA] Table 1: 5.023M params, CIFAR-10 error 6.86; [RC-MC] Table 2
# ResNet-18: 6.92). Depth 18 -> 160 epochs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=4, share_weights=False))
