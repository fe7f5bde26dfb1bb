"""The tools fail early with one readable error line on stderr (exit 1,
no traceback) on missing or unusable inputs: data, weights, checkpoints,
the interpreter of the shell scripts. The decisions are unit-tested in
tests/test_engine/; the runs of the tools here that build a Runner (each
~15 s of interpreter start on a small CPU) are marked slow."""
import json
import os
import os.path as osp

import pytest
import torch

from demo_utils import (REPO, USER_PATH, demo_data_options, run_as_user,
                        run_tool, tiny_demo_data)

DEMO = 'configs/demo/faster_rcnn_rla_demo.py'


def _error_of(proc):
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr


def _error_line(proc):
    """The one ``error: ...`` line of a refused run."""
    err = _error_of(proc)
    lines = [x for x in err.splitlines() if x.startswith('error: ')]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return tiny_demo_data(tmp_path_factory.mktemp('demo') / 'data', 8, 4)


def test_missing_coco_data_names_the_path(tmp_path):
    proc = run_tool(['tools/train.py', 'configs/faster_rcnn_rla_r50_fpn_1x_coco.py',
                     '--work-dir', str(tmp_path),
                     '--cfg-options', 'train_dataloader.dataset.data_root='
                     f'{tmp_path}/nowhere/'], check=False)
    err = _error_of(proc)
    assert f'{tmp_path}/nowhere/annotations/instances_train2017.json' in err
    assert 'make_demo_data.py' in err


def test_missing_pretrained_names_the_path_and_the_converter(tmp_path):
    data = tiny_demo_data(tmp_path / 'data', 4, 2)
    opts = demo_data_options(data)
    # the paper's detector config, pointed at existing (demo) data
    proc = run_tool(['tools/train.py', 'configs/faster_rcnn_rla_r50_fpn_1x_coco.py',
                     '--work-dir', str(tmp_path), '--cfg-options',
                     *[o for o in opts if 'evaluator' not in o and
                       'train_cfg' not in o and 'hooks' not in o],
                     'train_dataloader.dataset.ann_file='
                     'annotations/instances_train.json',
                     'train_dataloader.dataset.data_prefix.img=train/',
                     'val_dataloader.dataset.ann_file='
                     'annotations/instances_val.json',
                     'val_dataloader.dataset.data_prefix.img=val/'],
                    check=False)
    err = _error_of(proc)
    assert 'checkpoints/rla_resnet50_in1k.pth' in err
    assert 'rlanet2rla_mm.py' in err
    assert 'model.backbone.init_cfg.checkpoint' in err


@pytest.mark.parametrize('args,word', [
    (['tools/train.py', 'configs/nope.py'], 'configs/nope.py'),
    (['tools/test.py', 'configs/demo/faster_rcnn_rla_demo.py', 'missing.pth'],
     'missing.pth'),
])
def test_missing_files(args, word):
    err = _error_of(run_tool(args, check=False))
    assert word in err


# ------------------------------------------------------------- --resume
@pytest.mark.slow
def test_resume_truncated_checkpoint(tmp_path):
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'epoch': 1, 'iter': 2}, 'state_dict': {
        'w': torch.zeros(1000)}}, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:500])
    line = _error_line(run_tool(['tools/train.py', DEMO, '--work-dir',
                                 str(tmp_path), '--resume', str(ckpt)],
                                check=False))
    assert str(ckpt) in line and 'not a complete checkpoint' in line


@pytest.mark.slow
def test_resume_classifier_checkpoint(tmp_path):
    """A converted / classifier file has weights but no training state."""
    ckpt = tmp_path / 'rla_resnet50_in1k.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)},
                'meta': {'backbone': {'type': 'RLAResNet'}}}, ckpt)
    line = _error_line(run_tool(['tools/train.py', DEMO, '--work-dir',
                                 str(tmp_path), '--resume', str(ckpt)],
                                check=False))
    assert str(ckpt) in line and 'not a training checkpoint' in line
    assert f'load_from={ckpt}' in line


@pytest.mark.slow
def test_resume_only_broken_checkpoints(tmp_path):
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    line = _error_line(run_tool(['tools/train.py', DEMO, '--work-dir',
                                 str(tmp_path), '--resume'], check=False))
    assert str(tmp_path) in line and 'epoch_3.pth' in line


# ------------------------------------------------ wrong weights / data
def _demo_detector_state(**backbone):
    """State dict of the demo detector, with backbone arguments changed."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import rla_mm  # noqa: F401
    cfg = Config.fromfile(osp.join(REPO, DEMO))
    cfg.model.backbone.update(backbone)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg.model).state_dict()


@pytest.mark.slow
def test_test_tool_refuses_another_architecture(demo_root, tmp_path):
    ckpt = tmp_path / 'other.pth'
    torch.save({'state_dict': _demo_detector_state(rla_channel=8),
                'meta': {}}, ckpt)
    args = ['tools/test.py', DEMO, str(ckpt), '--work-dir', str(tmp_path),
            '--cfg-options', *demo_data_options(demo_root)]
    line = _error_line(run_tool(args, check=False))
    assert str(ckpt) in line and 'mis-shaped' in line
    assert f'does not fit the model of {DEMO}' in line
    assert '--allow-partial-load' in line


@pytest.mark.slow
def test_test_tool_partial_load_when_asked(demo_root, tmp_path):
    ckpt = tmp_path / 'other.pth'
    torch.save({'state_dict': _demo_detector_state(rla_channel=8)}, ckpt)
    proc = run_tool(['tools/test.py', DEMO, str(ckpt), '--work-dir',
                     str(tmp_path), '--allow-partial-load', '--cfg-options',
                     *demo_data_options(demo_root)])
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr


@pytest.mark.slow
def test_pretrained_authors_file_names_the_converter(demo_root, tmp_path):
    """init_cfg Pretrained at the authors' unconverted file."""
    with open(osp.join(REPO, 'tests/data/official_rlanet_state_dict_keys.json')
              ) as f:
        shapes = json.load(f)['rla_resnet50']
    src = tmp_path / 'rla_resnet50.pth.tar'
    torch.save({'state_dict': {f'module.{k}': torch.zeros(s, dtype=torch.uint8)
                               for k, s in shapes.items()},
                'epoch': 120, 'arch': 'rla_resnet50'}, src)
    config = tmp_path / 'pretrained_demo.py'
    config.write_text(
        f"_base_ = ['{REPO}/{DEMO}']\n"
        'model = dict(backbone=dict(init_cfg=dict(_delete_=True, '
        f"type='Pretrained', checkpoint='{src}', prefix='backbone.')))\n")
    args = ['tools/train.py', str(config), '--work-dir', str(tmp_path),
            '--cfg-options', *demo_data_options(demo_root)]
    line = _error_line(run_tool(args, check=False))
    assert f'model.backbone.init_cfg.checkpoint={src}' in line
    assert f'tools/model_converters/rlanet2rla_mm.py {src} DST' in line
    assert not os.path.exists(tmp_path / 'epoch_1.pth')


def _corrupt_demo(root, edit):
    path = osp.join(root, 'annotations', 'instances_train.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(edit(text))
    return path


@pytest.mark.slow
def test_invalid_annotation_json_names_the_file(tmp_path):
    root = tiny_demo_data(tmp_path / 'data', 4, 2)
    path = _corrupt_demo(root, lambda text: text[:len(text) // 2])
    line = _error_line(run_tool(['tools/train.py', DEMO, '--work-dir',
                                 str(tmp_path), '--cfg-options',
                                 *demo_data_options(root)], check=False))
    assert line.startswith(f'error: annotation file {path} is not valid JSON')


@pytest.mark.slow
def test_training_set_without_a_usable_box(tmp_path):
    """Every box smaller than a pixel: mmdet would train on nothing."""
    root = tiny_demo_data(tmp_path / 'data', 4, 2)

    def shrink(text):
        data = json.loads(text)
        for ann in data['annotations']:
            ann['bbox'] = [ann['bbox'][0], ann['bbox'][1], 0.5, 0.5]
        return json.dumps(data)

    path = _corrupt_demo(root, shrink)
    line = _error_line(run_tool(['tools/train.py', DEMO, '--work-dir',
                                 str(tmp_path), '--cfg-options',
                                 *demo_data_options(root)], check=False))
    assert f'training set {path}' in line and 'usable box' in line


# ------------------------------------------------- the shell scripts' python
def _resolved_python(home, **env):
    setup = ''.join(f'export {k}={v}; ' for k, v in env.items())
    proc = run_as_user(f'{setup}ROOT={REPO}; source tools/python_env.sh; '
                       'echo "$PYTHON"', home)
    return proc


def test_scripts_find_the_project_venv(tmp_path):
    if not os.access(osp.join(REPO, '.venv', 'bin', 'python'), os.X_OK):
        pytest.skip('no .venv (made by `make install`)')
    proc = _resolved_python(tmp_path)
    assert proc.stdout.strip() == f'{REPO}/.venv/bin/python', proc.stderr
    # an explicit PYTHON wins
    proc = _resolved_python(tmp_path, PYTHON=f'{REPO}/.venv/bin/python3')
    assert proc.stdout.strip() == f'{REPO}/.venv/bin/python3'


def test_scripts_refuse_a_python_without_torch(tmp_path):
    bare = next((osp.join(d, 'python3') for d in USER_PATH.split(':')
                 if os.access(osp.join(d, 'python3'), os.X_OK)), None)
    if bare is None or run_as_user(f'{bare} -c "import torch"',
                                   tmp_path).returncode == 0:
        pytest.skip('no system python3 without torch here')
    for script in ('dist_train.sh', 'dist_test.sh'):
        proc = run_as_user(f'PYTHON={bare} bash tools/{script} {DEMO} x 1',
                           tmp_path)
        line = _error_line(proc)
        assert f"'{bare}' cannot import torch" in line
        assert 'make install' in line
