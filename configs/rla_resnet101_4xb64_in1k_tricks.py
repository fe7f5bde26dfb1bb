# RLA-ResNet-101 with the App. B.2.2 recipe (no result in the paper: Table 3
# has RLA-ResNet-50 and RLA-ECANet-50 with tricks).
# The recipe of configs/rla_resnet101_4xb64_in1k.py plus App. B.2.2's training
# tricks and ResNet-D (configs/_base_/imagenet_tricks.py): label smoothing 0.1,
# mixup alpha 0.2, 5 warm-up epochs, cosine over 200 epochs, lr 0.1 for the
# total batch 256 (4 GPUs x 64).
_base_ = ['./_base_/rla_resnet_imagenet.py', './_base_/imagenet_tricks.py']

model = dict(
    backbone=dict(_base_.resnet_d, type='RLAResNet', depth=101),
    head=dict(loss=_base_.tricks_head_loss),
    train_cfg=_base_.tricks_train_cfg)
param_scheduler = _base_.tricks_param_scheduler
train_cfg = dict(max_epochs=_base_.tricks_max_epochs)
