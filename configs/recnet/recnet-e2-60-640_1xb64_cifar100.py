# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(b), e = 2: 824K
# params, CIFAR-10 94.16, CIFAR-100 73.10.
_base_ = './_base_/recnet_cifar100.py'
model = dict(
    backbone=dict(
        arch=None,
        expansion=2,
        seg_channels=(8, 16, 32),
        num_steps=(10, 10, 10)))
