"""tools/image_demo.py: mmdet's DetInferencer and mmpretrain's
ImageClassificationInferencer run rla_mm configs on the demo data, the saved
predictions are the model's own, a random-weights run never replaces a
trained run's outputs, and bad inputs (missing, empty, truncated, not an
image) are one line naming the path, before the model is built."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from demo_utils import demo_data_options, run_tool, tiny_demo_data


def _load_tool(path):
    spec = importlib.util.spec_from_file_location(
        'rla_tool_image_demo', osp.join(REPO_ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


image_demo = _load_tool('tools/image_demo.py')

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
    preds = json.loads((tmp_path / 'img_random_weights.json').read_text())
    assert preds['random_weights'] and len(preds['topk']) == 5
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    assert all(p['class_name'] == IMAGENET_CATEGORIES[p['label']]
               for p in preds['topk'])


def test_random_weights_run_keeps_the_trained_outputs(demo_root, tmp_path):
    """A run without --weights after one with them writes its own pair of
    files (``x_random_weights.png`` / ``.json``) and leaves the trained
    predictions as they were."""
    _, model = _build(DET_CONFIG, 'mmdet')
    ckpt = _save(model, tmp_path / 'det.pth', DEMO_CLASSES)
    image = osp.join(demo_root, 'val', '00001.png')
    out = tmp_path / 'out'
    common = [image, DET_CONFIG, '--out-dir', str(out), '--score-thr', '0']
    image_demo.main(common + ['--weights', ckpt])
    trained = {n: (out / n).read_bytes()
               for n in ('00001.png', '00001.json')}
    image_demo.main(common)
    assert sorted(os.listdir(out)) == [
        '00001.json', '00001.png', '00001_random_weights.json',
        '00001_random_weights.png']
    for name, data in trained.items():
        assert (out / name).read_bytes() == data, name
    random = json.loads((out / '00001_random_weights.json').read_text())
    assert random['random_weights'] and random['weights'] is None


def _bad_images(folder, demo_root):
    png = open(osp.join(demo_root, 'val', '00001.png'), 'rb').read()
    jpeg = folder / 'ok.jpg'
    Image.open(osp.join(demo_root, 'val', '00001.png')).save(jpeg)
    files = {
        'empty.png': b'',
        'notes.png': b'not an image at all\n' * 20,
        'truncated.png': png[:len(png) // 2],
        'truncated.jpg': jpeg.read_bytes()[:jpeg.stat().st_size // 2],
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: str(folder / name) for name in files}


@pytest.mark.parametrize('name,word', [
    ('empty.png', 'image file is empty'),
    ('notes.png', 'not an image'),
    ('truncated.png', 'truncated'),
    ('truncated.jpg', 'truncated'),
])
def test_bad_image_is_refused_before_the_model_is_built(
        name, word, demo_root, tmp_path, monkeypatch):
    bad = _bad_images(tmp_path, demo_root)[name]

    def no_build(*args, **kwargs):
        raise AssertionError('the model was built for a bad image')

    monkeypatch.setattr(image_demo, 'build_inferencer', no_build)
    with pytest.raises(SystemExit) as e:
        image_demo.main([bad, DET_CONFIG, '--out-dir', str(tmp_path / 'o')])
    message = str(e.value)
    assert message.startswith('error: ') and word in message
    assert bad in message and '\n' not in message
    assert not osp.exists(tmp_path / 'o')


def test_bad_image_is_one_line_on_stderr(demo_root, tmp_path):
    bad = _bad_images(tmp_path, demo_root)['truncated.png']
    proc = run_tool(['tools/image_demo.py', bad, DET_CONFIG, '--out-dir',
                     str(tmp_path / 'o')], check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        f'error: image file is truncated or corrupt: {bad}')


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


# ------------------------------------------- the demo's data and picture


def test_prediction_grid_tiles_into_out_dir(tmp_path, capsys):
    grid_tool = _load_tool('tools/misc/prediction_grid.py')
    show = tmp_path / 'show' / 'a'
    show.mkdir(parents=True)
    for i in range(5):
        Image.new('RGB', (20, 10), (40 * i, 0, 0)).save(show / f'{i}.png')
    out = grid_tool.main([str(tmp_path / 'show'), '--out-dir',
                          str(tmp_path / 'out'), '--cols', '2'])
    assert out == str(tmp_path / 'out' / 'predictions.png')
    with Image.open(out) as grid:
        assert grid.size == (40, 30)  # 5 tiles of 20x10 in 2 columns
    assert os.listdir(tmp_path / 'out') == ['predictions.png']
    # the old form (an output file as 2nd argument): deprecated, still works
    old = tmp_path / 'old.png'
    assert grid_tool.main([str(tmp_path / 'show'), str(old)]) == str(old)
    assert 'deprecated' in capsys.readouterr().err and old.is_file()


def test_demo_data_folders_honour_the_umask(tmp_path):
    """The datasets are built in a temp folder (mkdtemp: 0700) and renamed
    into place: the result must have a plain folder's permissions."""
    from rla_mm.testing.demo_data import make_cls_demo_data
    old = os.umask(0o022)
    try:
        root = make_cls_demo_data(str(tmp_path / 'cls'), 1, 1)
    finally:
        os.umask(old)
    assert oct(os.stat(root).st_mode & 0o777) == oct(0o755)
    assert sorted(os.listdir(osp.join(root, 'train'))) == [
        'circle', 'cross', 'square', 'triangle']
    with pytest.raises(ValueError, match='`num_train` must be an int >= 1'):
        make_cls_demo_data(str(tmp_path / 'bad'), 0, 1)
