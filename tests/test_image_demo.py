"""tools/image_demo.py: mmdet's DetInferencer and mmpretrain's
ImageClassificationInferencer run rla_mm configs on the demo data, the saved
predictions are the model's own, and bad inputs name the path."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from demo_utils import demo_data_options, run_tool, tiny_demo_data

sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
import image_demo  # noqa: E402

DET_CONFIG = 'configs/demo/faster_rcnn_rla_demo.py'
CLS_CONFIG = 'configs/demo/rla_resnet_cls_demo.py'
DEMO_CLASSES = ('circle', 'square', 'triangle')
CLS_CLASSES = ('circle', 'cross', 'square', 'triangle')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return tiny_demo_data(tmp_path_factory.mktemp('demo'), 4, 2)


def _build(config, scope):
    import rla_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    init_default_scope(scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def _save(model, path, classes):
    # what mmengine's CheckpointHook writes, minus the optimizer
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=classes))), path)
    return str(path)


def test_detector_predictions_are_the_models(demo_root, tmp_path):
    """DetInferencer builds the rla_mm config, loads the checkpoint, and the
    saved detections equal mmdet's plain ``inference_detector`` on the same
    weights (an independent path: ``init_detector`` + ``test_step``)."""
    cfg, model = _build(DET_CONFIG, 'mmdet')
    ckpt = _save(model, tmp_path / 'det.pth', DEMO_CLASSES)
    image = osp.join(demo_root, 'val', '00001.png')
    out = tmp_path / 'out'
    proc = run_tool([
        'tools/image_demo.py', image, DET_CONFIG, '--weights', ckpt,
        '--out-dir', str(out), '--score-thr', '0'
    ])
    assert 'detections with score >= 0' in proc.stdout
    preds = json.loads((out / '00001.json').read_text())
    assert preds['task'] == 'detection' and not preds['random_weights']

    from mmdet.apis import inference_detector, init_detector
    detector = init_detector(cfg, ckpt, device='cpu')
    want = inference_detector(detector, image).pred_instances
    got = preds['detections']
    assert len(got) == len(want) > 0
    torch.testing.assert_close(
        torch.tensor([d['bbox'] for d in got]), want.bboxes,
        rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(
        torch.tensor([d['score'] for d in got]), want.scores,
        rtol=1e-4, atol=1e-5)
    assert [d['label'] for d in got] == want.labels.tolist()
    # class names come from the checkpoint's dataset_meta
    assert {d['class_name'] for d in got} <= set(DEMO_CLASSES)

    picture = np.asarray(Image.open(out / '00001.png').convert('RGB'))
    original = np.asarray(Image.open(image).convert('RGB'))
    assert picture.shape == original.shape
    assert (picture != original).any()  # boxes were drawn


def test_classifier_lists_topk_with_the_models_scores(tmp_path):
    """ImageClassificationInferencer runs the rla_mm classifier; the top-k
    are the k highest softmax scores of the model, with class names."""
    cfg, model = _build(CLS_CONFIG, 'mmpretrain')
    ckpt = _save(model, tmp_path / 'cls.pth', CLS_CLASSES)
    image = tmp_path / 'img.png'
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3),
                                 dtype=np.uint8)).save(image)
    out = tmp_path / 'out'
    run_tool([
        'tools/image_demo.py', str(image), CLS_CONFIG, '--weights', ckpt,
        '--out-dir', str(out), '--topk', '3'
    ])
    preds = json.loads((out / 'img.json').read_text())
    assert preds['task'] == 'classification'

    # independent path: mmcv's BGR loading + the model's own test_step
    from mmpretrain.apis import get_model
    classifier = get_model(cfg, pretrained=ckpt, device='cpu').eval()
    bgr = np.asarray(Image.open(image).convert('RGB'))[..., ::-1]
    inputs = torch.from_numpy(bgr.transpose(2, 0, 1).copy())
    with torch.no_grad():
        scores = classifier.test_step(dict(inputs=[inputs]))[0].pred_score
    scores = scores.numpy()
    order = np.argsort(-scores)[:3]
    assert [p['label'] for p in preds['topk']] == order.tolist()
    np.testing.assert_allclose([p['score'] for p in preds['topk']],
                               scores[order], rtol=1e-5)
    assert [p['class_name'] for p in preds['topk']] == [
        CLS_CLASSES[i] for i in order
    ]
    assert Image.open(out / 'img.png').size[0] >= 32


def test_no_weights_says_random_and_lists_five_imagenet_classes(tmp_path):
    """An ImageNet RLA-ResNet-50 config without --weights: a loud warning,
    a file name that says so, the top-5 with ImageNet class names."""
    image = tmp_path / 'img.png'
    Image.fromarray(np.full((40, 48, 3), 128, np.uint8)).save(image)
    proc = run_tool([
        'tools/image_demo.py', str(image),
        'configs/rla_resnet50_4xb64_in1k.py', '--out-dir', str(tmp_path)
    ])
    assert 'RANDOM' in proc.stderr
    assert osp.isfile(tmp_path / 'img_random_weights.png')
    preds = json.loads((tmp_path / 'img.json').read_text())
    assert preds['random_weights'] and len(preds['topk']) == 5
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    assert all(p['class_name'] == IMAGENET_CATEGORIES[p['label']]
               for p in preds['topk'])


@pytest.mark.parametrize('which', ['image', 'config', 'weights'])
def test_missing_inputs_name_the_path(which, tmp_path, capsys, demo_root):
    args = {
        'image': osp.join(demo_root, 'val', '00001.png'),
        'config': osp.join(REPO_ROOT, DET_CONFIG),
        'weights': None
    }
    missing = str(tmp_path / f'missing_{which}.xyz')
    args[which] = missing
    argv = [args['image'], args['config'], '--out-dir', str(tmp_path)]
    if args['weights']:
        argv += ['--weights', args['weights']]
    with pytest.raises(SystemExit) as e:
        image_demo.main(argv)
    assert missing in str(e.value)
    assert {'image': 'image file', 'config': 'config file',
            'weights': 'checkpoint file'}[which] in str(e.value)
    assert not list(tmp_path.glob('*.png'))


def test_model_index_names_resolve_to_config_and_weights(tmp_path):
    # a classifier whose converted weights are not there: the error names
    # the expected file and the converter
    with pytest.raises(image_demo.InputError) as e:
        image_demo.resolve_config('rla_resnet50_4xb64_in1k', None)
    assert 'checkpoints/rla_resnet50_in1k.pth' in str(e.value)
    assert 'rlanet2rla_mm.py' in str(e.value)
    config, weights, source = image_demo.resolve_config(
        'rla_resnet50_4xb64_in1k', 'w.pth')
    assert config == osp.join(REPO_ROOT, 'configs/rla_resnet50_4xb64_in1k.py')
    assert (weights, source) == ('w.pth', '--weights')
    # a detector: no released detector weights
    config, weights, _ = image_demo.resolve_config(
        'faster_rcnn_rla_r50_fpn_1x_coco', None)
    assert config.endswith('configs/faster_rcnn_rla_r50_fpn_1x_coco.py')
    assert weights is None
    with pytest.raises(image_demo.InputError, match='no_such_model'):
        image_demo.resolve_config('no_such_model', None)


@pytest.mark.slow
def test_detector_demo_with_trained_checkpoint(tmp_path):
    """The README's flow: train the demo detector (here one epoch on tiny
    data with tools/train.py), then draw its detections."""
    root = tiny_demo_data(tmp_path / 'demo', num_train=16, num_val=4)
    work = tmp_path / 'work'
    run_tool(['tools/train.py', DET_CONFIG, '--work-dir', str(work),
              '--cfg-options'] + demo_data_options(root))
    ckpt = (work / 'last_checkpoint').read_text().strip()
    out = tmp_path / 'out'
    proc = run_tool([
        'tools/image_demo.py', osp.join(root, 'val', '00002.png'),
        DET_CONFIG, '--weights', ckpt, '--out-dir', str(out),
        '--score-thr', '0'
    ])
    assert 'RANDOM' not in proc.stderr
    preds = json.loads((out / '00002.json').read_text())
    assert preds['weights'] == ckpt and preds['detections']
    # the Runner checkpoint carries the demo classes, not COCO's
    assert {d['class_name'] for d in preds['detections']} <= set(DEMO_CLASSES)
    assert osp.isfile(out / '00002.png')
