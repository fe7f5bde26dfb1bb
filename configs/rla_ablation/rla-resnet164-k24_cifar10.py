# Table 13: RLA-ResNet-164 on CIFAR-10 with k = 24 (RLA channel sweep).
_base_ = '../_base_/rla_resnet_cifar10.py'
rla_channel = 24
model = dict(
    backbone=dict(depth=164, rla_channel=rla_channel),
    head=dict(in_channels=256 + rla_channel))
