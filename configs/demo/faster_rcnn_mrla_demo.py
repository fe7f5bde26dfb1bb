# The RLA demo detector (faster_rcnn_rla_demo.py: Faster R-CNN + FPN at
# 128x128, trained from scratch on the embedded demo data on a 2-core CPU,
# evaluated with the real CocoMetric) with an MRLA-light backbone instead
# (MRLA paper, Fang et al., ICLR 2023, Eq. 8): a narrow MRLA-light
# ResNet-18, base width 16 like the RLA demo. Its stage widths 16..128 are
# too narrow for the authors' 32 channels per head, so heads of 8 channels
# (2, 4, 8, 16 heads per stage). Everything but the backbone is the RLA
# demo's, for a side-by-side comparison.
_base_ = ['./faster_rcnn_rla_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='MRLAResNet',
        depth=18,
        base_channels=16,
        mrla_head_dim=8,
        recurrence='shortcut',
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None))  # from scratch: no download, no pretrained file
