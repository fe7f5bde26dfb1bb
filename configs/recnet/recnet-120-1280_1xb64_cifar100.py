# RecNet(4, 4, 8, 16, 20, 20, 20) = RecNet-120-1280: RecNets Table 3 (1,406K
# params, CIFAR-10 94.58, CIFAR-100 77.62); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='120-1280'), head=dict(in_channels=320))
