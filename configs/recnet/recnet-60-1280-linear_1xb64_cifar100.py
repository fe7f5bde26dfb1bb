# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(a), None
# (linear): CIFAR-10 94.24, CIFAR-100 75.71.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(nonlinearity='linear'))
