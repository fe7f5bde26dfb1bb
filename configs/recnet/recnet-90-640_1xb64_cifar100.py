# RecNet(4, 8, 8, 8, 10, 15, 20) = RecNet-90-640: RecNets Table 3 (537K params,
# CIFAR-10 93.95, CIFAR-100 75.86); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='90-640'), head=dict(in_channels=160))
