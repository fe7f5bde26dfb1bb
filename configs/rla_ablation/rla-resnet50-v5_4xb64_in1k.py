# Table 11 (i): RLA-v5, the shortcut branch updates h before the recurrent
# conv (the authors' resnet_rla_v5.py).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_source='shortcut'))
