# RecNet(4, 8, 16, 32, 10, 10, 10) = RecNet-60-1280: RecNets Table 3 (1,769K
# params, CIFAR-10 95.15, CIFAR-100 78.25); our count is in docs/recnet.md.
_base_ = './_base_/recnet_cifar100.py'
