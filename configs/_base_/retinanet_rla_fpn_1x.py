# RetinaNet + FPN with an RLA-ResNet backbone, the paper's 1x schedule
# (RLA paper Sec. 4.3 / App. B.3): COCO 2017, shorter side 800 (1333x800),
# flip; SGD lr 0.01, momentum 0.9, weight decay 1e-4, total batch 8
# (4 GPUs x 2 images), 12 epochs, lr x0.1 after epochs 8 and 11, linear
# warm-up. `--auto-scale-lr` rescales the lr for another total batch.
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    './rla_det_1x.py',
]
model = dict(backbone=_base_.rla_backbone)

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(optimizer=dict(lr=0.01, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=8)
