# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(a), shared BN +
# ReLU: CIFAR-10 87.44, CIFAR-100 62.70.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(nonlinearity='shared_bn_relu'))
