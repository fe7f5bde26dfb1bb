# Faster R-CNN, RLA-ResNet-101 + FPN, 1x (paper Table 4: box AP 41.2).
_base_ = './_base_/faster_rcnn_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['r101'])))
