"""tools/analysis_tools/visualize_rla.py (hidden state through depth) and
tools/analysis_tools/plot_curves.py (training curves beside a baseline)."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from demo_utils import run_tool, tiny_demo_data
from rla_mm.analysis.hidden_state import HiddenStateRecorder


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'rla_tool_{name}',
        osp.join(REPO_ROOT, 'tools', 'analysis_tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plot_curves = _load_tool('plot_curves')
visualize_rla = _load_tool('visualize_rla')

TINY = dict(base_channels=16, rla_channel=8)


def _tiny_rla_resnet(depth=18, **kwargs):
    from rla_mm.models import RLAResNet
    torch.manual_seed(0)
    model = RLAResNet(depth, zero_init_residual=False, **TINY, **kwargs)
    model.init_weights()
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _record(model, x):
    recorder = HiddenStateRecorder(model)
    with torch.no_grad():
        outs = model(x)
    recorder.remove()
    recorder.check_complete()
    return recorder, outs


@pytest.mark.parametrize('depth', [18, 50])
def test_records_are_the_h_the_next_block_reads(depth):
    """Every recorded h is exactly the h that the next block concatenates to
    its input (the unpooled h for a stage's first block), and the last one is
    what ``hidden_norm`` reads: the hooks see h itself, in order (read on
    the concatenation path, where conv1 is called on ``cat(x, h)``)."""
    model = _tiny_rla_resnet(depth, concat_hidden=True, split_conv1=False)
    k = model.rla_channel
    read = []  # (stage, block, h part of conv1's input)
    hooks = []
    for s, name in enumerate(model.res_layers):
        for j in range(len(getattr(model, name))):
            conv1 = getattr(model, name)[j].conv1
            hooks.append(conv1.register_forward_pre_hook(
                lambda m, args, key=(name, j): read.append(
                    (key, args[0][0, -k:].clone()))))
    final = {}

    def read_final(module, args):  # a pre-hook must return None
        final['h'] = args[0][0].clone()

    hooks.append(model.hidden_norm.register_forward_pre_hook(read_final))
    recorder, _ = _record(model, torch.rand(1, 3, 61, 47))
    for h in hooks:
        h.remove()

    records = recorder.records
    assert len(records) == sum(
        len(getattr(model, n).rla.norms) for n in model.res_layers)
    assert [(s, j) for s, j, _ in records] == [
        (n, j) for n in model.res_layers
        for j in range(len(getattr(model, n).rla.norms))]
    # block i+1 (in network order) reads record i; the first block reads
    # h = 0 as x only
    reads = [r for r in read if r[0] != ('layer1', 0)]
    assert len(reads) == len(records) - 1
    for (_, _, h), (_, seen) in zip(records, reads):
        torch.testing.assert_close(h, seen, rtol=0, atol=0)
    torch.testing.assert_close(records[-1][2], final['h'], rtol=0, atol=0)


def test_fast_path_updates_are_recorded_too():
    """With ``split_conv1=True`` the stage computes most updates through
    ``RLAUnit.update`` (not ``forward``); the recorder still sees all of
    them, equal to the plain path's up to float rounding."""
    plain = _tiny_rla_resnet(50, split_conv1=False)
    fast = _tiny_rla_resnet(50, split_conv1=True)
    fast.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 64, 64)
    want, _ = _record(plain, x)
    got, _ = _record(fast, x)
    assert len(got.records) == len(want.records) == 15  # 3+4+6+2 updates
    for (s1, j1, h1), (s2, j2, h2) in zip(got.records, want.records):
        assert (s1, j1) == (s2, j2)
        torch.testing.assert_close(h1, h2, rtol=1e-4, atol=1e-5)


def test_mobilenet_v2_groups():
    from rla_mm.models import RLAMobileNetV2
    torch.manual_seed(0)
    model = RLAMobileNetV2(rla_channel=8, out_indices=(7, ),
                           concat_hidden=True).eval()
    recorder, _ = _record(model, torch.rand(1, 3, 64, 64))
    assert len(recorder.records) == 17  # one update per inverted residual
    assert list(recorder.expected) == [f'layer{g}' for g in range(1, 8)]
    assert all(h.shape[0] == 8 for _, _, h in recorder.records)
    # h of the first group at stride 2, of the last at stride 32
    assert recorder.records[0][2].shape[-2:] == (32, 32)
    assert recorder.records[-1][2].shape[-2:] == (2, 2)


def test_non_rla_backbone_is_refused():
    from mmdet.models.backbones import ResNet
    with pytest.raises(ValueError, match='no RLA units'):
        HiddenStateRecorder(ResNet(18))


def test_figure_of_the_demo_detector(tmp_path):
    root = tiny_demo_data(tmp_path / 'demo', 2, 1)
    image = osp.join(root, 'val', '00001.png')
    out_dir = tmp_path / 'fig'
    proc = run_tool([
        'tools/analysis_tools/visualize_rla.py', image,
        'configs/demo/faster_rcnn_rla_demo.py', '--out-dir', str(out_dir)
    ])
    assert 'RANDOM' in proc.stderr
    # no weights: both files say so in their names
    out = out_dir / '00001_rla_random_weights.png'
    assert sorted(os.listdir(out_dir)) == [
        '00001_rla_random_weights.json', '00001_rla_random_weights.png']
    # narrow RLA-ResNet-18, detection mode: 2 + 2 + 2 + 1 updates
    assert '7 updates of h recorded in 4 stages' in proc.stdout
    summary = json.loads(
        (out_dir / '00001_rla_random_weights.json').read_text())
    blocks = summary['blocks']
    assert [b['stage'] for b in blocks] == ['layer1'] * 2 + ['layer2'] * 2 \
        + ['layer3'] * 2 + ['layer4']
    # k = 16 channels at strides 4, 8, 16, 32 of the 128x128 input
    assert [b['shape'] for b in blocks[::2]] == [[16, 32, 32], [16, 16, 16],
                                                 [16, 8, 8], [16, 4, 4]]
    assert all(b['rms'] > 0 for b in blocks)
    with Image.open(out) as fig:
        assert fig.format == 'PNG' and fig.size[0] > 600


def test_visualize_missing_config_names_it(tmp_path):
    image = tmp_path / 'x.png'
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    with pytest.raises(SystemExit, match='config file not found: nope.py'):
        visualize_rla.main([str(image), 'nope.py'])


# ------------------------------------------------------------ plot_curves


def _write_run(work_dir, stamp, lines, partial_tail=False):
    d = osp.join(work_dir, stamp, 'vis_data')
    os.makedirs(d, exist_ok=True)
    with open(osp.join(d, 'scalars.json'), 'w') as f:
        for line in lines:
            f.write(json.dumps(line) + '\n')
        if partial_tail:
            f.write('{"loss": 0.1, "ite')  # killed mid-write


def _train(step, loss):
    return dict(lr=0.01, loss=loss, time=0.1, epoch=1, iter=step, step=step)


def _val(epoch, mAP):
    return {'coco/bbox_mAP': mAP, 'coco/bbox_mAP_50': mAP + 0.1,
            'time': 0.1, 'step': epoch}


@pytest.fixture
def two_runs(tmp_path):
    rla, base = str(tmp_path / 'rla'), str(tmp_path / 'base')
    # a resumed run: the second folder repeats step 20 with a new value
    _write_run(rla, '20260101_000000', [_train(10, 1.0), _train(20, 0.9),
                                        _val(1, 0.2)])
    _write_run(rla, '20260101_010000', [_train(20, 0.8), _train(30, 0.5),
                                        _val(2, 0.4)], partial_tail=True)
    _write_run(base, '20260101_000000', [_train(10, 1.1), _train(20, 1.0),
                                         _train(30, 0.9), _val(1, 0.1),
                                         _val(2, 0.3)])
    return rla, base


def test_logs_are_merged_in_run_order(two_runs):
    run = plot_curves.load_run(two_runs[0])
    assert run['train']['loss'] == {10: 1.0, 20: 0.8, 30: 0.5}
    assert run['val']['coco/bbox_mAP'] == {1: 0.2, 2: 0.4}
    assert plot_curves.default_keys([run]) == ['loss', 'coco/bbox_mAP']


def test_plot_curves_cli(two_runs, tmp_path, capsys):
    out = str(tmp_path / 'plots' / 'curves.png')
    plot_curves.main([two_runs[0], '--baseline', two_runs[1], '--labels',
                      'RLA', '--out-dir', str(tmp_path / 'plots')])
    printed = capsys.readouterr().out
    assert 'RLA: last loss 0.5, coco/bbox_mAP 0.4' in printed
    assert 'base (baseline): last loss 0.9, coco/bbox_mAP 0.3' in printed
    with Image.open(out) as fig:
        assert fig.format == 'PNG' and fig.size[0] > 500
    assert os.listdir(tmp_path / 'plots') == ['curves.png']


def test_plot_curves_out_file_still_works(two_runs, tmp_path, capsys):
    """``--out FILE`` (before ``--out-dir``): deprecated, same result."""
    out = tmp_path / 'old' / 'mine.png'
    assert plot_curves.main([two_runs[0], '--out', str(out)]) == str(out)
    assert '--out FILE is deprecated' in capsys.readouterr().err
    assert os.listdir(out.parent) == ['mine.png']


@pytest.mark.parametrize('case,word', [
    ('missing', 'work dir not found'),
    ('empty', 'no training logs in'),
    ('key', "key 'coco/segm_mAP' is in none of the logs"),
])
def test_plot_curves_errors(case, word, two_runs, tmp_path):
    argv = {
        'missing': [str(tmp_path / 'nope')],
        'empty': [str(tmp_path)],
        'key': [two_runs[0], '--keys', 'coco/segm_mAP'],
    }[case]
    with pytest.raises(SystemExit, match=word):
        plot_curves.main(argv + ['--out-dir', str(tmp_path / 'out')])
    assert not osp.exists(tmp_path / 'out')
