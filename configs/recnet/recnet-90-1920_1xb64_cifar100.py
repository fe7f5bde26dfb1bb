# RecNet(4, 8, 16, 32, 15, 15, 15) = RecNet-90-1920: RecNets Table 3 (3,306K
# params, CIFAR-10 95.22, CIFAR-100 79.01); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(arch='90-1920'), head=dict(in_channels=480))
