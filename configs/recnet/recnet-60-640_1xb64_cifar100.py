# RecNet(4, 4, 8, 16, 10, 10, 10) = RecNet-60-640: RecNets Table 3 (471K
# params, CIFAR-10 93.45, CIFAR-100 74.94); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='60-640'), head=dict(in_channels=160))
