"""The ImageNet configs carry the RLA authors' recipe (Zhao, Fang, Li,
"Recurrence along Depth", NeurIPS 2021, arXiv:2110.11852, Sec. 4.2 /
App. B.2.1, and the authors' released code): the last BN of every RLA-ResNet
block starts at gamma = 0, RLA-MobileNetV2's classifier is Dropout(0.2) +
linear, and images are decoded and resized with PIL as torchvision does.
See docs/recipes.md."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from PIL import Image

from conftest import REPO_ROOT

RESNET_CONFIGS = [
    'rla_resnet50_4xb64_in1k.py', 'rla_resnet101_4xb64_in1k.py',
    'rla_resnet152_4xb64_in1k.py', 'rla_eca_resnet50_4xb64_in1k.py',
    'rla_eca_resnet101_4xb64_in1k.py'
]
MBV2_CONFIGS = [
    'rla_mobilenet_v2_2xb48_in1k.py', 'rla_eca_mobilenet_v2_2xb48_in1k.py'
]
BLOCKS = {50: 16, 101: 33, 152: 50}  # bottlenecks per depth


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def _build(model_cfg):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(ConfigDict(model_cfg))


def _transforms(pipeline):
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return [TRANSFORMS.build(t) for t in pipeline]


def _run(transforms, results):
    for t in transforms:
        results = t(results)
    return results


# ------------------------------------------------ zero-init of the last BN
@pytest.mark.parametrize('name', RESNET_CONFIGS)
def test_last_bn_of_every_block_starts_at_zero(name):
    """The authors' RLA_ResNet(zero_init_last_bn=True): after init_weights
    bn3's gamma is 0 in every bottleneck, the other BNs' gamma is 1."""
    from rla_mm.models.layers.rla_res_layer import RLABottleneck
    cfg = _cfg(name)
    model = _build(cfg.model)
    torch.manual_seed(0)
    model.init_weights()
    blocks = [m for m in model.backbone.modules()
              if isinstance(m, RLABottleneck)]
    assert len(blocks) == BLOCKS[cfg.model.backbone.depth]
    for i, block in enumerate(blocks):
        assert torch.count_nonzero(block.norm3.weight) == 0, i
        assert torch.all(block.norm1.weight == 1), i
        assert torch.all(block.norm2.weight == 1), i


# --------------------------------------------------- RLA-MobileNetV2 head
@pytest.mark.parametrize('name', MBV2_CONFIGS)
def test_mobilenet_head_is_dropout_then_linear(name):
    cfg = _cfg(name)
    head = _build(cfg.model).head
    assert type(head).__name__ == 'DropoutLinearClsHead'
    assert isinstance(head.dropout, torch.nn.Dropout)
    assert head.dropout.p == 0.2
    # the state dict of LinearClsHead: converted weights land in head.fc
    assert sorted(head.state_dict()) == ['fc.bias', 'fc.weight']


def _randomized(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in module.state_dict().items():
            if key.endswith('num_batches_tracked'):
                continue
            if key.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    # (the authors' five recurrent_dsconvs are one tensor: last write wins)
    return module


def test_converted_authors_mobilenet_loads_and_matches(tmp_path):
    """The authors' dsRLA-MobileNetV2, converted by rla_mm's converter and
    checked against the config, loads strictly into the config's model and
    gives the authors' logits: in eval mode, and in train mode with the same
    dropout mask (same seed), which places the dropout where they put it."""
    from rla_mm.converters import convert_rlanet_checkpoint
    from rla_mm.testing.authors_rlanet import dsRLA_MobileNetV2
    config = osp.join(REPO_ROOT, 'configs', MBV2_CONFIGS[0])
    authors = _randomized(dsRLA_MobileNetV2()).double()
    src = str(tmp_path / 'dsrla_mobilenetv2_k32.pth.tar')
    torch.save(dict(state_dict={f'module.{k}': v
                                for k, v in authors.state_dict().items()}),
               src)
    converted = convert_rlanet_checkpoint(src, None, config=config)
    model = _build(_cfg(MBV2_CONFIGS[0]).model).double()
    model.load_state_dict(converted['state_dict'], strict=True)
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        ref = authors.eval()(x)
        got = model.eval()(x, mode='tensor')
        torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-10)
        torch.manual_seed(3)
        ref_train = authors.train()(x)
        torch.manual_seed(3)
        got_train = model.train()(x, mode='tensor')
    torch.testing.assert_close(got_train, ref_train, rtol=1e-9, atol=1e-10)
    assert not torch.allclose(got_train, got)  # dropout did act


# ------------------------------------------------- PIL decode and resize
def _jpeg(path, height, width, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3),
                         dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    img.save(path, quality=90)
    return str(path)


def _hwc_rgb(packed):
    """PackInputs' CHW BGR tensor -> HWC RGB uint8 array."""
    return packed['inputs'].permute(1, 2, 0).numpy()[..., ::-1]


@pytest.mark.parametrize('name', RESNET_CONFIGS + MBV2_CONFIGS)
def test_pipelines_use_pil_where_the_authors_did(name):
    cfg = _cfg(name)
    train = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert train['LoadImageFromFile'].imdecode_backend == 'pillow'
    crop = train['RandomResizedCrop']
    assert (crop.scale, crop.backend, crop.interpolation) == \
        (224, 'pillow', 'bilinear')
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        test = {t.type: t for t in loader.dataset.pipeline}
        assert test['LoadImageFromFile'].imdecode_backend == 'pillow'
        resize = test['ResizeEdge']
        assert (resize.scale, resize.edge, resize.backend,
                resize.interpolation) == (256, 'short', 'pillow', 'bilinear')
        assert test['CenterCrop'].crop_size == 224


@pytest.mark.parametrize('size', [(333, 500), (500, 375), (257, 300)])
def test_test_pipeline_gives_torchvision_pixels(tmp_path, size):
    """Resize(256) + CenterCrop(224) of torchvision on a PIL image (the
    authors' evaluation) and the config's test pipeline give the same
    pixels, bit for bit (mmcv's cv2 resize differs by up to 5 levels)."""
    import torchvision.transforms as T
    path = _jpeg(tmp_path / 'x.jpg', *size)
    pipeline = _transforms(_cfg(RESNET_CONFIGS[0]).test_dataloader.dataset
                           .pipeline)
    got = _hwc_rgb(_run(pipeline, dict(img_path=path)))
    ref = np.asarray(T.Compose([T.Resize(256), T.CenterCrop(224)])(
        Image.open(path).convert('RGB')))
    np.testing.assert_array_equal(got, ref)


def test_train_crop_gives_torchvision_pixels(tmp_path):
    """For the same crop box, the config's RandomResizedCrop and torchvision's
    resized_crop (bilinear, on a PIL image) give the same pixels."""
    import torchvision.transforms.functional as TF
    path = _jpeg(tmp_path / 'x.jpg', 375, 500)
    pipeline = [t for t in _cfg(RESNET_CONFIGS[0]).train_dataloader.dataset
                .pipeline if t.type != 'RandomFlip']
    transforms = _transforms(pipeline)
    box = (37, 81, 211, 305)  # top, left, height, width
    crop = [t for t in transforms if type(t).__name__ == 'RandomResizedCrop']
    crop[0].rand_crop_params = lambda img: box
    got = _hwc_rgb(_run(transforms, dict(img_path=path)))
    ref = np.asarray(
        TF.resized_crop(Image.open(path).convert('RGB'), *box, [224, 224],
                        TF.InterpolationMode.BILINEAR))
    np.testing.assert_array_equal(got, ref)
