# RLA-ResNet-50, ImageNet (paper Table 3: 24.67M params, 4.17G FLOPs,
# top-1 / top-5 error 22.83 / 6.58).
_base_ = './_base_/rla_resnet_imagenet.py'
