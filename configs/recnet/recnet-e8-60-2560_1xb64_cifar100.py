# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(b), e = 8: 4,239K
# params, CIFAR-10 95.47, CIFAR-100 79.33.
_base_ = './_base_/recnet_cifar100.py'
model = dict(
    backbone=dict(
        arch=None,
        expansion=8,
        seg_channels=(8, 16, 32),
        num_steps=(10, 10, 10)))
