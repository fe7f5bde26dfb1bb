# MRLA-light ResNet-101, ImageNet (MRLA paper, ICLR 2023; 44,939,646
# parameters, 7.882G multiply-adds at 224x224).
_base_ = './_base_/mrla-light-resnet_in1k.py'
model = dict(backbone=dict(depth=101))
