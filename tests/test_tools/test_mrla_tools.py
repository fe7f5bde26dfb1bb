"""MRLA-light in the analysis tools (MRLA paper, ICLR 2023, Eq. 8):
visualize_mrla.py (the gates a_h and |lambda| through depth), get_flops.py
(counts, the paper table) and benchmark.py (builds and times it)."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from rla_mm.models import MRLAResNet


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'rla_tool_{name}',
        osp.join(REPO_ROOT, 'tools', 'analysis_tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


visualize_mrla = _load_tool('visualize_mrla')
TINY_MRLA = ['type=MRLAResNet', 'depth=18', 'base_channels=16',
             'mrla_head_dim=8']
DEMO = osp.join(REPO_ROOT, 'configs', 'demo', 'faster_rcnn_mrla_demo.py')


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / 'shapes.png'
    Image.fromarray(rng.integers(0, 255, (96, 112, 3), dtype=np.uint8)).save(
        path)
    return str(path)


@pytest.mark.parametrize('recurrence', ['shortcut', 'carried'])
def test_recorded_gates_are_those_each_brick_applies(recurrence):
    """The hooks record, in call order, the gates each brick computes on the
    block output it receives (checked by re-running the blocks by hand)."""
    torch.manual_seed(0)
    model = MRLAResNet(18, base_channels=16, mrla_head_dim=8,
                       recurrence=recurrence).eval()
    recorder = visualize_mrla.GateRecorder(model)
    x = torch.rand(2, 3, 61, 53)
    with torch.no_grad():
        model(x)
        recorder.remove()
        h = model.maxpool(model.relu(model.norm1(model.conv1(x))))
        want, o = [], None
        for name in model.res_layers:
            for block in getattr(model, name):
                out, sc = block.residual(h)
                y = block.relu(out + sc)
                want.append(block.mrla.head_gates(y)[0])
                h, o = block(h, o if recurrence == 'carried' else None)
    names = [n for n, _ in recorder.records]
    assert names == [f'layer{s}.{j}.mrla' for s in range(1, 5)
                     for j in range(2)]
    for (_, got), w in zip(recorder.records, want):
        torch.testing.assert_close(got, w)
    model(x)  # removed hooks record nothing more
    assert len(recorder.records) == 8


def test_figure_and_numbers_of_the_demo_detector(image, tmp_path, capsys):
    out_dir = tmp_path / 'figs'
    visualize_mrla.main([image, DEMO, '--out-dir', str(out_dir)])
    captured = capsys.readouterr()
    assert 'RANDOM' in captured.err
    png = out_dir / 'shapes_mrla_random_weights.png'
    assert png.is_file() and str(png) in captured.out
    assert Image.open(png).size[0] > 300
    with open(out_dir / 'shapes_mrla_random_weights.json') as f:
        summary = json.load(f)
    blocks = summary['blocks']
    assert [b['num_heads'] for b in blocks] == [2, 2, 4, 4, 8, 8, 16, 16]
    assert [b['stage'] for b in blocks][::2] == [
        'layer1', 'layer2', 'layer3', 'layer4']
    for b in blocks:
        assert len(b['gates']) == b['num_heads']
        assert all(0 < g < 1 for g in b['gates'])
        assert b['lambda_abs_q10'] <= b['lambda_abs_median'] <= \
            b['lambda_abs_q90']
    assert not list(out_dir.glob('*.part'))


def test_a_backbone_without_mrla_is_a_named_error(image, tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'demo', 'faster_rcnn_rla_demo.py')
    out_dir = tmp_path / 'figs'
    with pytest.raises(SystemExit, match='MRLAResNet'):
        visualize_mrla.main([image, config, '--out-dir', str(out_dir)])
    assert not out_dir.exists()


def test_missing_image_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match='nope.png'):
        visualize_mrla.main([str(tmp_path / 'nope.png'), DEMO])


# ------------------------------------------------------ get_flops, benchmark
def test_get_flops_counts_mrla(tmp_path, monkeypatch):
    """The MRLA-light row of --paper-table, in the RLA paper's units:
    +181,420 parameters and +66,423,040 thop multiply-adds over ResNet-50
    (its convs, BN_mrla at 2 per element, the pooling), an arrow from
    ResNet-50 in the plot. Not the RLA authors' model: never held to the
    printed digits."""
    from rla_mm.analysis import paper_tables
    get_flops = _load_tool('get_flops')
    rows = {r.name: r for r in paper_tables.TABLES['Table 3']}
    monkeypatch.setitem(paper_tables.TABLES, 'Table 3', [
        rows['ResNet-50'], rows['MRLA-light ResNet-50']])
    got = get_flops.main(['--paper-table', 'table3', '--out-dir',
                          str(tmp_path)])
    mrla = got[1]
    assert mrla['model'] == 'MRLA-light ResNet-50'
    assert mrla['params'] == 25_738_452
    assert mrla['params'] - got[0]['params'] == 181_420
    assert mrla['macs'] - got[0]['macs'] == 66_423_040
    assert mrla['dparams_m'] == pytest.approx(181_420 / 2**20)
    assert mrla['paper_dparams_m'] == pytest.approx(0.16)
    assert mrla['paper_top1'] == pytest.approx(77.7)
    assert mrla['agrees'] is None
    assert (tmp_path / 'rla_cost_vs_accuracy.png').read_bytes()[:4] == \
        b'\x89PNG'
    assert get_flops._style('MRLA-light ResNet-50') == ('+MRLA', 'ResNet-50')


def test_benchmark_builds_and_times_mrla(tmp_path):
    benchmark = _load_tool('benchmark')
    benchmark.main([
        '--backbone', *TINY_MRLA, '--baseline-backbone', 'type=mmdet.ResNet',
        'depth=18', 'base_channels=16', 'norm_eval=False', '--mode', 'infer',
        'train', '--batch-size', '1', '--input-size', '45', '--warmup', '0',
        '--repeats', '1', '--threads', '1', '--out-dir', str(tmp_path)])
    with open(tmp_path / 'benchmark.json') as f:
        modes = json.load(f)['modes']
    assert set(modes) == {'infer', 'train'}
    assert all(len(m['rows']) == 2 for m in modes.values())
