# Faster R-CNN whose compute is chosen at test time: a cost-adjustable
# RCResNet backbone ([RC-CA] Eq. 10, R_4 with 4 blocks per stage -> T_i + one
# RC block unrolled up to 3 steps, double independent BN) trained with one
# unified step t ~ {1: 0.2, 2: 0.3, 3: 0.5} per iteration (Alg. 2) on the
# embedded demo data. Test at 1, 2 or 3 steps:
#   python tools/test.py configs/rc/faster_rcnn_rc_resnet_demo.py CKPT \
#       --cfg-options model.backbone.num_steps=1
# (No paper trained a detector this way.)
_base_ = '../demo/faster_rcnn_rla_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RCResNet',
        max_steps=3,
        num_steps=3,  # the step used for validation / testing
        double_bn=True,
        stem_type='imagenet',  # output strides 4, 8, 16, 32 for the FPN
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: no download, no pretrained file
    neck=dict(in_channels=[16, 32, 64, 128]))

custom_hooks = [
    dict(type='RCStepSamplerHook', step_probs={1: 0.2, 2: 0.3, 3: 0.5})
]
# Parameters used at several steps (RCPreActBlock's `shared_convs`) at half
# the lr ([RC-CA] Sec. 3.3; the keys must not catch the RoI head's
# `shared_fcs`); the demo's gradient clipping stays.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '.shared_convs.': dict(lr_mult=0.5),
            '.shared_norms.': dict(lr_mult=0.5)
        }))
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
