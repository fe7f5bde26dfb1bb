# RecNet(4, 4, 8, 16, 15, 15, 15) = RecNet-90-960: RecNets Table 3 (863K
# params, CIFAR-10 94.32, CIFAR-100 76.31); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='90-960'), head=dict(in_channels=240))
