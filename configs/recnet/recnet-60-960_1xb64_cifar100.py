# RecNet(4, 16, 16, 16, 5, 10, 15) = RecNet-60-960: RecNets Table 3 (1,137K
# params, CIFAR-10 94.54, CIFAR-100 77.91); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='60-960'), head=dict(in_channels=240))
