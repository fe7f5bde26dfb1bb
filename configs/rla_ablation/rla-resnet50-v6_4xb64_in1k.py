# Table 11 (j): RLA-v6, the shortcut branch added after the recurrent conv
# (the authors' resnet_rla_v6.py).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_source='shortcut', rla_update='post'))
