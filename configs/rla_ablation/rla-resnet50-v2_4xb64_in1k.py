# Table 11 (f): RLA-v2, W1 y added after the recurrent conv, as the authors'
# resnet_rla_v2.py computes it (y = the block output, through their in-place
# addition; their v4, row (h), computes the same function).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_update='post'))
