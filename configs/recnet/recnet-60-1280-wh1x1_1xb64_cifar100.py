# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(c), W_x 3x3 and
# W_h 1x1: 1,425K params, CIFAR-10 94.71, CIFAR-100 77.48.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(kernel_size_h=1))
