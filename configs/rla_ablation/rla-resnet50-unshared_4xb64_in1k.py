# Table 11 (b) / Table 15: RLA-v1 without parameter sharing, ImageNet
# ResNet-50 (paper: 25.12M, 4.17G, top-1 / top-5 error 22.93 / 6.61). As the
# authors' resnet_rla_us.py computes it: each block has its own W1 and W3,
# and y is the residual (their unshared block has no in-place addition).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_shared=False, rla_source='residual'))
