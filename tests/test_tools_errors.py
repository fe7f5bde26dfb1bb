"""The tools fail early with one readable error on missing inputs."""
import pytest

from demo_utils import demo_data_options, run_tool, tiny_demo_data


def _error_of(proc):
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr


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
