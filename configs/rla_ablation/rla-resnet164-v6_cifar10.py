# App. B.4 RLA-v6, the shortcut added after the recurrent conv (1.74M, error
# 5.62).
# CIFAR-10 RLA-ResNet-164 (k = 12), App. B.1 recipe.
_base_ = '../_base_/rla_resnet_cifar10.py'
rla_channel = 12  # RLA-ResNet-164 (rla_resnet164_cifar10.py)
model = dict(
    backbone=dict(
        depth=164,
        rla_channel=rla_channel,
        rla_source='shortcut',
        rla_update='post'),
    head=dict(in_channels=256 + rla_channel))
