# RLA-ECANet-50, ImageNet (paper Table 3: 24.67M, 4.18G, 22.15 / 6.11);
# ECA kernels (5, 5, 5, 7).
_base_ = './_base_/rla_resnet_imagenet.py'
model = dict(backbone=dict(type='RLAECAResNet', depth=50))
