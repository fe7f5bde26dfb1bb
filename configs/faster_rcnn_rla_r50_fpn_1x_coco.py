# Faster R-CNN, RLA-ResNet-50 + FPN, 1x (paper Table 4: box AP 38.8).
_base_ = './_base_/faster_rcnn_rla_fpn_1x.py'
