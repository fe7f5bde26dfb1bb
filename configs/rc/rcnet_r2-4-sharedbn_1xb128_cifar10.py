# R_2^4 with one BN group shared by all steps ([RC-CA] Table 2 "Shared":
# CIFAR-10 error 21.00). The shared BN is named `shared_norms`, so it trains
# at half the lr like the shared convs.
_base_ = './_base_/rcnet_cifar10.py'
model = dict(backbone=dict(num_steps=4, bn_mode='shared'))
