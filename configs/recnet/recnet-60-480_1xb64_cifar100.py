# RecNet(4, 8, 8, 8, 5, 10, 15) = RecNet-60-480: RecNets Table 3 (316K params,
# CIFAR-10 93.28, CIFAR-100 73.68); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='60-480'), head=dict(in_channels=120))
