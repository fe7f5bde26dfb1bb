# RecNet(4, 16, 16, 16, 10, 20, 30) = RecNet-120-1920: RecNets Table 3 (3,569K
# params, CIFAR-10 95.47, CIFAR-100 79.38); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='120-1920'), head=dict(in_channels=480))
