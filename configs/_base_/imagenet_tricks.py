# The training tricks and architecture refinements of the RLA paper's App.
# B.2.2 (Table 3's "with tricks" rows), from He et al., "Bag of tricks for
# image classification with convolutional neural networks" (CVPR 2019), on
# top of the standard recipe of ./rla_resnet_imagenet.py. Our text of App.
# B.2.2 lost the two values; we use He et al.'s (docs/rla_xception.md, "The
# refinement recipe"):
# (a) label smoothing, epsilon = 0.1 (He et al.; also timm's default);
# (b) mixup, lambda ~ Beta(0.2, 0.2) (He et al.'s alpha);
# (c) 5 warm-up epochs, lr rising linearly per iteration (from 1e-4, timm's
#     warm-up lr; mmengine's LinearLR cannot start at 0);
# (d) cosine schedule within 200 epochs from lr 0.1 (for the total batch of
#     256, the paper's 4 GPUs x 64; linear scaling rule), per iteration, to 0
#     at epoch 200 after the warm-up (He et al.'s form);
# ResNet-D: (a) stride on the 3x3 conv of downsampling blocks (mmdet's
# style='pytorch', already the default), (b) the 7x7 stem conv replaced by
# three 3x3 convs 32-32-64 (deep_stem), (c) a stride-2 2x2 average pool
# before the shortcut's (non-strided) 1x1 conv (avg_down).
# Named apart from the base's keys (mmengine forbids duplicate keys among
# bases); a config takes them as `_base_.<name>`.
resnet_d = dict(style='pytorch', deep_stem=True, avg_down=True)
tricks_head_loss = dict(
    type='LabelSmoothLoss', label_smooth_val=0.1, mode='original',
    loss_weight=1.0)
tricks_train_cfg = dict(augments=dict(type='Mixup', alpha=0.2))
tricks_max_epochs = 200
tricks_warmup_epochs = 5
tricks_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=tricks_warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=tricks_max_epochs -
         tricks_warmup_epochs, eta_min=0., by_epoch=True,
         begin=tricks_warmup_epochs, end=tricks_max_epochs,
         convert_to_iter_based=True),
]
