# Faster R-CNN, MRLA-light ResNet-50 + FPN, COCO 1x (MRLA paper, ICLR 2023,
# Sec. 4; the authors' settings: lr 0.02, total batch 16).
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/mrla_det_1x.py',
]
model = dict(backbone=_base_.mrla_backbone)
