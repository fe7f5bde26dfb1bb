# RecNet(4, 8, 8, 8, 10, 20, 30) = RecNet-120-960: RecNets Table 3 (930K
# params, CIFAR-10 94.44, CIFAR-100 77.58); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='120-960'), head=dict(in_channels=240))
