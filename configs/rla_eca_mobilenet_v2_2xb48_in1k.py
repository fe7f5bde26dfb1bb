# RLA-ECA-MobileNetV2 (dsRLA + ECA, k = 32) on ImageNet, RLA paper App. B.2.1
# and Table 3 (3.46M params, 352.4M FLOPs, top-1 / top-5 error 27.07 / 8.89).
# ECA after the last BN of every block, kernel 1 in the groups narrower than
# 96 channels and 3 in the others (the authors' released weights); the ECA
# output is what the RLA 1x1 conv reads (Sec. 4.2). Same schedule.
_base_ = './rla_mobilenet_v2_2xb48_in1k.py'
model = dict(backbone=dict(with_eca=True))
