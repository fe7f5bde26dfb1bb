# RLA-ResNet-101, ImageNet (paper Table 3: 42.92M, 7.79G, 21.48 / 5.80).
_base_ = './_base_/rla_resnet_imagenet.py'
model = dict(backbone=dict(depth=101))
