# RLA-ECANet-50 (paper Table 3, with tricks: 24.67M params, 4.18G FLOPs,
# top-1 / top-5 error 19.31 / 4.71); ECA kernels (5, 5, 5, 7).
# The recipe of configs/rla_eca_resnet50_4xb64_in1k.py plus App. B.2.2's
# training tricks and ResNet-D (configs/_base_/imagenet_tricks.py): label
# smoothing 0.1, mixup alpha 0.2, 5 warm-up epochs, cosine over 200 epochs, lr
# 0.1 for the total batch 256 (4 GPUs x 64).
_base_ = ['./_base_/rla_resnet_imagenet.py', './_base_/imagenet_tricks.py']

model = dict(
    backbone=dict(_base_.resnet_d, type='RLAECAResNet', depth=50),
    head=dict(loss=_base_.tricks_head_loss),
    train_cfg=_base_.tricks_train_cfg)
param_scheduler = _base_.tricks_param_scheduler
train_cfg = dict(max_epochs=_base_.tricks_max_epochs)
