# Table 15: the unshared RLA-ResNet-101, the authors' rlaus_resnet101
# (per-block W1 and W3, y = the residual): 46,187,944 parameters, 44.05M in
# the paper's units (its text: +0.28 top-1 for RLA-ResNet-101 over it).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet's recipe
model = dict(
    backbone=dict(depth=101, rla_shared=False, rla_source='residual'))
