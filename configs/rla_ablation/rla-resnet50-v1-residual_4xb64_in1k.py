# RLA-v1 as the paper's text and Fig. 3 describe it: the residual branch
# updates h. The published v1 numbers (Table 11 "Proposed RLA-v1", Table 3)
# and the released weights come from the authors' code, where y is the block
# output: configs/rla_resnet50_4xb64_in1k.py, which is also their v3.
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_source='residual'))
