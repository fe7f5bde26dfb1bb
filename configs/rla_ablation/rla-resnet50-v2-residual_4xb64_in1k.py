# RLA-v2 as Fig. 4 describes it: the residual branch, added after the
# recurrent conv (the authors' code ran it with y = the block output:
# rla-resnet50-v2_4xb64_in1k.py).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_update='post', rla_source='residual'))
