# RecNet(4, 8, 16, 32, 20, 20, 20) = RecNet-120-2560: RecNets Table 3 (5,444K
# params, CIFAR-10 95.46, CIFAR-100 80.31); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='120-2560'), head=dict(in_channels=640))
