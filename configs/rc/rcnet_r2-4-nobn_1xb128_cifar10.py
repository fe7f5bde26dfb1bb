# R_2^4 without BN in the cells ([RC-CA] Table 2 "No": CIFAR-10 error 10.37).
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=4, bn_mode='none'))
