# CIFAR-10 RLA-ResNet-164 (pre-activation Bottlenecks 16/32/64 -> 64/128/256,
# k = 12, the paper's DenseNet growth rate), RLA paper App. B.1, Table 2
# (1.74M params; error 4.95) and Table 13 (k = 12).
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 12
model = dict(
    backbone=dict(depth=164, rla_channel=rla_channel),
    head=dict(in_channels=256 + rla_channel))
