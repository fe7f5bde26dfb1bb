# RetinaNet, RLA-ResNet-50 + FPN, 1x (paper Table 4: box AP 37.9).
_base_ = './_base_/retinanet_rla_fpn_1x.py'
