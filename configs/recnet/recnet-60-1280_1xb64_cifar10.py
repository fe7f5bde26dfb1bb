# RecNet(4, 8, 16, 32, 10, 10, 10) = RecNet-60-1280 on CIFAR-10: RecNets Tables
# 2-3 (1,769K params, CIFAR-10 95.15); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar10.py'
