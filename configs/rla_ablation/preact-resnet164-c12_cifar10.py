# App. B.4 "channel +12": pre-activation ResNet-164 with every stage 12
# channels wider (planes + 3: outputs 76/140/268), no RLA (1.93M).
_base_ = '../_base_/rla_resnet_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True, type='PreActResNetCIFAR', depth=164,
        extra_channels=12),
    head=dict(in_channels=256 + 12))
