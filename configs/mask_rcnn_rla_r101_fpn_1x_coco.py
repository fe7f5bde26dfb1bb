# Mask R-CNN, RLA-ResNet-101 + FPN, 1x (paper Table 5: box AP 41.8, mask AP 37.3).
_base_ = './_base_/mask_rcnn_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['r101'])))
