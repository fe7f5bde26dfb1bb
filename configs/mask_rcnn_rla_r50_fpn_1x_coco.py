# Mask R-CNN, RLA-ResNet-50 + FPN, 1x (paper Table 5: box AP 39.5, mask AP 35.6).
_base_ = './_base_/mask_rcnn_rla_fpn_1x.py'
