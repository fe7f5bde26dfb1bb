"""The "with tricks" ImageNet recipe of the RLA paper (Zhao, Fang, Li,
"Recurrence along Depth", NeurIPS 2021, arXiv:2110.11852, App. B.2.2, Table
3's rows with tricks): each ``*_in1k_tricks.py`` config is its standard
config plus exactly label smoothing 0.1, mixup alpha 0.2, 5 warm-up epochs
and a cosine schedule within 200 epochs at lr 0.1 (batch 256), and ResNet-D
(configs/_base_/imagenet_tricks.py)."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from conftest import REPO_ROOT

TRICKS = {
    'rla_resnet50_4xb64_in1k_tricks.py': 'rla_resnet50_4xb64_in1k.py',
    'rla_resnet101_4xb64_in1k_tricks.py': 'rla_resnet101_4xb64_in1k.py',
    'rla_eca_resnet50_4xb64_in1k_tricks.py':
    'rla_eca_resnet50_4xb64_in1k.py',
}
# the fragment's own names, which end up in the resolved config
FRAGMENT_KEYS = ('resnet_d', 'tricks_head_loss', 'tricks_train_cfg',
                 'tricks_max_epochs', 'tricks_warmup_epochs',
                 'tricks_param_scheduler')


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def _build(model_cfg):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(ConfigDict(model_cfg))


@pytest.mark.parametrize('name', sorted(TRICKS))
def test_tricks_config_is_the_standard_one_plus_the_tricks(name):
    cfg = _cfg(name)
    b = cfg.model.backbone
    assert (b.style, b.deep_stem, b.avg_down) == ('pytorch', True, True)
    assert cfg.model.head.loss == dict(
        type='LabelSmoothLoss', label_smooth_val=0.1, mode='original',
        loss_weight=1.0)
    assert cfg.model.train_cfg == dict(augments=dict(type='Mixup',
                                                     alpha=0.2))
    warmup, cosine = cfg.param_scheduler
    assert warmup == dict(type='LinearLR', start_factor=1e-3, by_epoch=True,
                          begin=0, end=5, convert_to_iter_based=True)
    assert cosine == dict(type='CosineAnnealingLR', T_max=195, eta_min=0.,
                          by_epoch=True, begin=5, end=200,
                          convert_to_iter_based=True)
    assert cfg.train_cfg.max_epochs == 200
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == \
        ('SGD', 0.1, 0.9, 1e-4)
    # lr 0.1 goes with the total batch 256 (4 GPUs x 64)
    assert cfg.train_dataloader.batch_size * 4 == \
        cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.data_preprocessor.num_classes == 1000  # mixup's one-hot

    # nothing else differs from the standard recipe
    standard = _cfg(TRICKS[name]).to_dict()
    tricks = cfg.to_dict()
    for key in FRAGMENT_KEYS:
        tricks.pop(key)
    for key in ('deep_stem', 'avg_down'):
        tricks['model']['backbone'].pop(key)
    assert tricks['model']['backbone'].pop('style') == 'pytorch'
    tricks['model']['head']['loss'] = standard['model']['head']['loss']
    tricks['model'].pop('train_cfg')
    tricks['param_scheduler'] = standard['param_scheduler']
    tricks['train_cfg']['max_epochs'] = standard['train_cfg']['max_epochs']
    assert tricks == standard


@pytest.mark.parametrize('name', sorted(TRICKS))
def test_tricks_model_is_a_resnet_d(name):
    """ResNet-D (He et al., Bag of tricks, Fig. 2c): a 3x3 stem 32-32-64
    (stride 2 on the first), the stride of downsampling blocks on the 3x3
    conv, and a 2x2 average pool before the shortcut's stride-1 1x1 conv;
    19,232 parameters more than the 7x7 stem, nothing else changes."""
    cfg = _cfg(name)
    model = _build(cfg.model)
    standard = _build(_cfg(TRICKS[name]).model)
    backbone = model.backbone
    convs = [m for m in backbone.stem if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride)
            for c in convs] == [(3, 32, (3, 3), (2, 2)),
                                (32, 32, (3, 3), (1, 1)),
                                (32, 64, (3, 3), (1, 1))]
    for i in (2, 3, 4):
        block = getattr(backbone, f'layer{i}')[0]
        assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
        pool, conv, _ = block.downsample
        assert isinstance(pool, torch.nn.AvgPool2d)
        assert (pool.kernel_size, pool.stride) == (2, 2)
        assert conv.stride == (1, 1) and conv.kernel_size == (1, 1)
    # stride 1: mmdet's ResLayer puts a 1x1 stride-1 pool (identity) there
    pool, conv, _ = backbone.layer1[0].downsample
    assert (pool.kernel_size, pool.stride) == (1, 1)
    assert conv.stride == (1, 1) and conv.kernel_size == (1, 1)
    stem_7x7 = 7 * 7 * 3 * 64 + 2 * 64
    stem_3x3 = 9 * (3 * 32 + 32 * 32 + 32 * 64) + 2 * (32 + 32 + 64)
    assert sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in standard.parameters()) == \
        stem_3x3 - stem_7x7 == 19232


def test_one_training_step_with_mixup_and_label_smoothing():
    """The loss of a mixed batch: mmpretrain's Mixup (in the data
    preprocessor) gives soft targets, LabelSmoothLoss smooths them; the
    loss equals the cross-entropy with (1 - 0.1) * mixed + 0.1 / 1000."""
    from mmpretrain.structures import DataSample
    cfg = _cfg('rla_resnet50_4xb64_in1k_tricks.py')
    # as mmengine's Runner does: the config's data_preprocessor (ImageNet
    # mean / std, num_classes) goes into the model
    model = _build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.train()
    torch.manual_seed(0)
    np.random.seed(0)  # Mixup draws lambda with numpy
    batch = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                for _ in range(4)],
        data_samples=[DataSample().set_gt_label(c) for c in (1, 3, 5, 7)])
    data = model.data_preprocessor(batch, training=True)
    scores = torch.stack([s.gt_score for s in data['data_samples']])
    assert scores.shape == (4, 1000)
    torch.testing.assert_close(scores.sum(1), torch.ones(4))
    assert (scores > 0).sum(1).max() == 2  # two images mixed
    losses = model(**data, mode='loss')
    loss = losses['loss']
    assert math.isfinite(loss.item())
    with torch.no_grad():
        logits = model(data['inputs'], mode='tensor')
        target = torch.stack([s.gt_score for s in data['data_samples']])
        target = 0.9 * target + 0.1 / 1000
        want = -(target * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(loss.detach(), want, rtol=1e-4, atol=1e-5)
    loss.backward()
    assert model.backbone.stem[0].weight.grad is not None


def test_learning_rate_schedule():
    """Per iteration: linear warm-up over 5 epochs from 1e-4 to 0.1, then a
    cosine from 0.1 to 0 that ends at epoch 200."""
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = _cfg('rla_resnet50_4xb64_in1k_tricks.py')
    epoch_length = 4
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [
        PARAM_SCHEDULERS.build(
            dict(s, optimizer=opt, epoch_length=epoch_length))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(200 * epoch_length):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        for s in schedulers:
            s.step()
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[5 * epoch_length] == pytest.approx(0.1)
    warmup = lrs[:5 * epoch_length]  # ends at 0.1 in its last iteration
    assert all(a < b for a, b in zip(warmup, warmup[1:]))
    assert warmup[-1] == pytest.approx(0.1)
    mid = (5 + 195 / 2) * epoch_length
    assert lrs[int(mid)] == pytest.approx(0.05, abs=1e-3)
    assert lrs[-1] == pytest.approx(0.1 * (1 - math.cos(
        math.pi / (195 * epoch_length))) / 2, abs=1e-9)
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:]))  # cosine falls
