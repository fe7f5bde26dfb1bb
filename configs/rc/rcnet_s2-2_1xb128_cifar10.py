# S_2^2: the standard network with R_2^2's graph ([RC-CA] Table 1: 2.514M
# params, CIFAR-10 error 7.93; [RC-MC] Table 2 ResNet-10: 7.87). Depth 10 ->
# 120 epochs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=2, share_weights=False))
train_cfg = dict(max_epochs=120)
