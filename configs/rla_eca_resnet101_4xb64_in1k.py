# RLA-ECANet-101, ImageNet (paper Table 3: 42.92M, 7.80G, 21.13 / 5.61);
# ECA kernels (5, 5, 5, 7).
_base_ = './_base_/rla_resnet_imagenet.py'
model = dict(backbone=dict(type='RLAECAResNet', depth=101))
