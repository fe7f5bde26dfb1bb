# RecNet(4, 16, 16, 16, 10, 15, 20) = RecNet-90-1280: RecNets Table 3 (2,028K
# params, CIFAR-10 94.77, CIFAR-100 78.0); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='90-1280'), head=dict(in_channels=320))
