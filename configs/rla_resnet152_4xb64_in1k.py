# RLA-ResNet-152, ImageNet (paper Table 3: 57.96M, 11.47G, 21.22 / 5.65).
_base_ = './_base_/rla_resnet_imagenet.py'
model = dict(backbone=dict(depth=152))
