# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(b), e = 1: 424K
# params, CIFAR-10 93.38, CIFAR-100 71.94.
_base_ = './_base_/recnet_cifar100.py'
model = dict(
    backbone=dict(
        arch=None,
        expansion=1,
        seg_channels=(8, 16, 32),
        num_steps=(10, 10, 10)))
