# Table 11 (d): RLA with a ConvLSTM cell (paper: 24.92M, 5.00G,
# 22.92 / 6.53); the authors' resnet_rla_lstm.py (no head BN).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_cell='convlstm'))
