# RecNet(e, 8, 16, 32, 10, 10, 10) variant of RecNets Table 2(c), W_x 1x1 and
# W_h 3x3: 1,683K params, CIFAR-10 94.72, CIFAR-100 77.42.
_base_ = './_base_/recnet_cifar100.py'
model = dict(backbone=dict(kernel_size_x=1))
