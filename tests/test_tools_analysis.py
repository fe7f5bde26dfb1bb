"""tools/analysis_tools: benchmark.py, get_flops.py, profile_rla.py on tiny
models (their numbers are not asserted, their bookkeeping is)."""
import importlib.util
import json
import os

import pytest
import torch

from conftest import REPO_ROOT

TOOLS = os.path.join(REPO_ROOT, 'tools', 'analysis_tools')
TINY_RLA = ['type=RLAResNet', 'depth=18', 'base_channels=16', 'rla_channel=8']
# norm_eval=False: BN in training mode like RLAResNet's (mmdet's default is
# True, which benchmark.py / profile_rla.py refuse to compare a training
# step with)
TINY_RES = ['type=mmdet.ResNet', 'depth=18', 'base_channels=16',
            'norm_eval=False']


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f'rla_tool_{name}', os.path.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def benchmark():
    return _load('benchmark')


@pytest.fixture(scope='module')
def get_flops():
    return _load('get_flops')


def test_benchmark_backbones_table_and_json(benchmark, tmp_path, capsys):
    out = tmp_path / 'bench.json'
    res = benchmark.main([
        '--backbone', *TINY_RLA, '--baseline-backbone', *TINY_RES,
        '--variant', 'split split_conv1=False', '--authors', '--mode',
        'infer', 'train', '--batch-size', '2', '--input-size', '48', '64',
        '--warmup', '1', '--repeats', '3', '--threads', '1', '--memory',
        '--json', str(out)
    ])
    printed = capsys.readouterr().out
    assert '| baseline | infer |' in printed and '| authors | train |' \
        in printed and 'mem ratio' in printed
    saved = json.loads(out.read_text())
    assert saved['env']['threads'] == 1
    for mode in ('infer', 'train'):
        rows = {r['model']: r for r in res['modes'][mode]['rows']}
        assert list(rows) == ['baseline', 'model', 'split', 'authors']
        for row in rows.values():
            assert len(row['times_s']) == 3 and row['median_ms'] > 0
            ratio = row['median_ms'] / rows['baseline']['median_ms']
            assert row['ratio'] == pytest.approx(ratio)
        assert rows['baseline']['paired_ratio'] == 1.0
    memory = res['modes']['train']['peak_memory_bytes']
    assert set(memory) == {'baseline', 'model', 'split', 'authors'}
    assert all(v > 0 for v in memory.values())
    assert res['modes']['infer']['peak_memory_bytes'] == {}


def test_training_step_needs_the_same_bn_mode(benchmark, capsys):
    """mmdet's ResNet freezes BN statistics by default (norm_eval=True),
    RLAResNet does not: timing their training steps would compare BN work,
    so the tool refuses, names norm_eval, and accepts it when asked."""
    frozen = TINY_RES[:-1]  # mmdet's default norm_eval=True
    common = ['--backbone', *TINY_RLA, '--batch-size', '2', '--input-size',
              '32', '--warmup', '0', '--repeats', '1', '--threads', '1']
    with pytest.raises(SystemExit, match='norm_eval'):
        benchmark.main(common + ['--baseline-backbone', *frozen,
                                 '--mode', 'train'])
    # inference (BN in eval mode in both) and the explicit opt-out run
    benchmark.main(common + ['--baseline-backbone', *frozen,
                             '--mode', 'infer'])
    benchmark.main(common + ['--baseline-backbone', *frozen, '--mode',
                             'train', '--allow-bn-mode-mismatch'])
    # without a baseline the default one takes the model's norm_eval
    res = benchmark.main(common + ['--mode', 'train'])
    assert [r['model'] for r in res['modes']['train']['rows']] == \
        ['baseline', 'model']
    # profile_rla.py applies the same rule (its --baseline-backbone is
    # merged into a default dict that has norm_eval=False)
    with pytest.raises(SystemExit, match='norm_eval'):
        _load('profile_rla').main([
            '--backbone', *TINY_RLA, '--baseline-backbone', *frozen,
            'norm_eval=True',
            '--batch-size', '2', '--input-size', '32', '--warmup', '0',
            '--repeats', '1', '--threads', '1', '--mode', 'train'])


def test_benchmark_rejects_bad_arguments(benchmark):
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--backbone', *TINY_RLA, '--config', 'x.py'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--baseline-backbone', *TINY_RES])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--backbone', *TINY_RLA, '--input-size', '1',
                              '2', '3'])


@pytest.mark.slow
def test_benchmark_whole_detector_from_configs(benchmark):
    """Detectors from config files (init_cfg dropped), inference with
    post-processing and a training step on synthetic boxes."""
    cfg = os.path.join(REPO_ROOT, 'configs', 'demo',
                       'faster_rcnn_rla_demo.py')
    res = benchmark.main([
        '--config', cfg, '--baseline-config', cfg, '--cfg-options',
        'model.backbone.split_conv1=False', '--mode', 'infer', 'train',
        '--batch-size', '1', '--input-size', '96', '128', '--warmup', '0',
        '--repeats', '1', '--threads', '1'
    ])
    for mode in ('infer', 'train'):
        names = [r['model'] for r in res['modes'][mode]['rows']]
        assert names == ['baseline', 'model']


def test_authors_port_computes_our_model(benchmark):
    """The third column runs the same weights the authors' way (cat,
    in-place adds, AvgPool2d): same outputs as RLAResNet."""
    import copy
    common = _load('_common')
    from rla_mm.models import RLAResNet
    torch.manual_seed(0)
    ours = RLAResNet(50, zero_init_residual=False, concat_hidden=True,
                     base_channels=16, rla_channel=8).double().eval()
    port = copy.deepcopy(ours)
    common.AuthorsRLAForward.install(port)
    x = torch.rand(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(ours(x), port(x)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    with pytest.raises(TypeError, match='RLAResNet'):
        common.AuthorsRLAForward.install(torch.nn.Conv2d(1, 1, 1))


def test_get_flops_counts_exactly_what_rla_adds(get_flops):
    """One stage, two BasicBlocks, one h update, 64x64 input (16x16 after
    the stem): RLA adds conv1's h half in block 1 (block 0 sees h = 0 and
    skips it), conv_out, the recurrent 3x3 conv and one BN on h."""
    from mmengine.analysis import FlopAnalyzer
    stage = ['num_stages=1', 'out_indices=(0,)', 'strides=(1,)',
             'dilations=(1,)']
    rla = get_flops.main(['--backbone', *TINY_RLA, *stage, '--shape', '64'])
    res = get_flops.main(['--backbone', *TINY_RES, *stage, '--shape', '64'])
    k, c, hw = 8, 16, 16 * 16
    conv_extra = k * c * 9 * hw + c * k * hw + k * k * 9 * hw
    bn = torch.nn.BatchNorm2d(k).eval()
    bn_flops = FlopAnalyzer(bn, (torch.rand(1, k, 16, 16), )).total()
    assert rla['flops'] - res['flops'] == conv_extra + bn_flops
    # params: conv1's h half twice, conv_out, recurrent conv, one BN (w, b)
    assert rla['params'] - res['params'] == \
        2 * k * c * 9 + c * k + k * k * 9 + 2 * k


def test_get_flops_from_a_detector_config(get_flops, capsys):
    cfg = os.path.join(REPO_ROOT, 'configs', 'demo', 'faster_rcnn_rla_demo.py')
    res = get_flops.main([cfg, '--shape', '128'])
    assert res['kind'] == 'detector' and res['flops'] > 0
    assert 'params:' in capsys.readouterr().out


@pytest.mark.slow
def test_get_flops_paper_table_and_plot(get_flops, tmp_path):
    png, js = tmp_path / 'plot.png', tmp_path / 'table.json'
    rows = get_flops.main(['--paper-table', '--plot', str(png), '--json',
                           str(js)])
    by_name = {r['model']: r for r in rows}
    # Table 3: +0.30M / +0.43M / +0.56M parameters for RLA-ResNet-50/101/152
    for depth, paper in ((50, .30), (101, .43), (152, .56)):
        assert by_name[f'RLA-ResNet-{depth}']['dparams_m'] == \
            pytest.approx(paper, abs=.03)
    assert by_name['ECANet-50']['params_m'] is not None
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert json.loads(js.read_text())['rows'][0]['model'] == 'ResNet-50'


def test_profile_rla_attributes_the_rla_parts():
    profile_rla = _load('profile_rla')
    for extra, mode in ((['split_conv1=False'], 'infer'),
                        (['split_conv1=True'], 'train')):
        res = profile_rla.main([
            '--backbone', *TINY_RLA, *extra, '--baseline-backbone',
            *TINY_RES, '--batch-size', '2', '--input-size', '64',
            '--warmup', '1', '--repeats', '1', '--threads', '1', '--mode',
            mode, '--top', '3'
        ])
        parts = res['parts']
        for part in ('RLA recurrent conv (3x3, k->k)',
                     'RLA h update (add, norm, tanh)', 'RLA pool h',
                     'block body (conv2/3, norms, ReLU)'):
            assert parts.get(part, 0) > 0, (part, parts)
        if extra == ['split_conv1=True']:
            assert parts['RLA conv1 h part (split_conv1)'] > 0
            assert 'RLA cat(x, h) for conv1' not in parts
            assert parts['backward (see the op table)'] > 0
        else:
            assert parts['RLA cat(x, h) for conv1'] > 0
            assert parts['RLA conv_out (1x1, C->k)'] > 0
        assert len(res['top']) == 3
