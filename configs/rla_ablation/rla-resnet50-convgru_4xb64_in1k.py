# RLA with a ConvGRU cell: the authors' resnet_rla_gru.py, in neither of the
# paper's tables (26,056,104 parameters; no head BN).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_cell='convgru'))
