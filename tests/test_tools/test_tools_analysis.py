"""tools/analysis_tools: benchmark.py, get_flops.py, profile_rla.py on tiny
models (their numbers are not asserted, their bookkeeping is), and the
authors' forward they time (rla_mm.analysis.authors)."""
import importlib.util
import json
import os
import re

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
# the authors' port has their widths (64 ... 512): narrow k and input only
SMALL_RLA = ['type=RLAResNet', 'depth=18', 'rla_channel=8']
SMALL_RES = ['type=mmdet.ResNet', 'depth=18', 'norm_eval=False']


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
    res = benchmark.main([
        '--backbone', *SMALL_RLA, '--baseline-backbone', *SMALL_RES,
        '--variant', 'split split_conv1=False', '--authors', '--mode',
        'infer', 'train', '--batch-size', '2', '--input-size', '48', '64',
        '--warmup', '1', '--repeats', '3', '--threads', '1', '--memory',
        '--out-dir', str(tmp_path / 'speed')
    ])
    printed = capsys.readouterr().out
    assert '| baseline | infer |' in printed and '| authors | train |' \
        in printed and 'mem ratio' in printed
    saved = json.loads((tmp_path / 'speed' / 'benchmark.json').read_text())
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


def test_benchmark_times_other_architectures_in_the_same_run(benchmark):
    """``--other``: a backbone with its own weights in the same rotation
    (the RLA / RLA-ECA / MRLA-light table of docs/mrla.md)."""
    res = benchmark.main([
        '--backbone', *SMALL_RLA, '--baseline-backbone', *SMALL_RES,
        '--other', 'mrla type=MRLAResNet depth=18 base_channels=16 '
        'mrla_head_dim=8 norm_eval=False', '--mode', 'infer', '--batch-size',
        '1', '--input-size', '32', '--warmup', '0', '--repeats', '2',
        '--threads', '1'
    ])
    rows = res['modes']['infer']['rows']
    assert [r['model'] for r in rows] == ['baseline', 'model', 'mrla']
    assert all(len(r['times_s']) == 2 for r in rows)


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


def test_benchmark_json_flag_is_a_deprecated_alias(benchmark, tmp_path,
                                                   capsys):
    out = tmp_path / 'old.json'
    benchmark.main(['--backbone', *TINY_RLA, '--baseline-backbone',
                    *TINY_RES, '--mode', 'infer', '--batch-size', '1',
                    '--input-size', '32', '--warmup', '0', '--repeats', '1',
                    '--json', str(out)])
    assert json.loads(out.read_text())['modes']['infer']['rows']
    assert '--json FILE is deprecated; use --out-dir DIR' in \
        capsys.readouterr().err
    assert os.listdir(tmp_path) == ['old.json']  # no temp file left


def test_benchmark_authors_needs_the_authors_widths(benchmark):
    """The one port of the authors' forward has their stem and widths: a
    narrow RLAResNet is refused in one line naming the key and shapes."""
    with pytest.raises(SystemExit, match=r"^error: --authors: 'conv1\.weight"
                       r"' has shape \(16, 3, 7, 7\), the authors' .* needs "
                       r'\(64, 3, 7, 7\)'):
        benchmark.main(['--backbone', *TINY_RLA, '--authors', '--mode',
                        'infer', '--warmup', '0', '--repeats', '1'])


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


@pytest.mark.parametrize('depth,kwargs', [
    (18, dict(concat_hidden=True)),
    (50, dict(out_indices=(0, 1, 2, 3), eca_kernel_sizes=(3, 3, 5, 5))),
])
def test_authors_forward_computes_our_model(depth, kwargs):
    """The benchmark's "authors" row runs the port in rla_mm.testing (their
    cat, in-place adds, AvgPool2d, zero h, the unneeded last update)
    filled through the converter's key mapping: same outputs as RLAResNet,
    classification and detection mode, with ECA."""
    from rla_mm.analysis.authors import AuthorsRLAResNet
    from rla_mm.models import RLAResNet
    torch.manual_seed(0)
    ours = RLAResNet(depth, zero_init_residual=False, rla_channel=8,
                     **kwargs).double().eval()
    for m in ours.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    port = AuthorsRLAResNet(ours).double().eval()
    assert type(port.port).__module__ == 'rla_mm.testing.authors_rlanet'
    x = torch.rand(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        want, got = ours(x), port(x)
    assert len(want) == len(got) == len(ours.out_indices)
    for a, b in zip(want, got):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_authors_forward_keeps_frozen_stages_and_norm_eval():
    from rla_mm.analysis.authors import AuthorsRLAResNet
    from rla_mm.models import RLAResNet
    ours = RLAResNet(18, rla_channel=8, frozen_stages=1, norm_eval=True)
    port = AuthorsRLAResNet(ours).train()
    bns = [m for m in port.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not any(m.training for m in bns)  # norm_eval, like the backbone
    ours.norm_eval = False
    port = AuthorsRLAResNet(ours).train()
    training = {n for n, m in port.port.named_modules()
                if isinstance(m, torch.nn.BatchNorm2d) and m.training}
    assert 'bn1' not in training and 'stage_bns.0.1' not in training
    assert {'stages.1.0.bn1', 'stage_bns.3.1', 'bn2'} <= training
    frozen = {n for n, p in port.port.named_parameters()
              if not p.requires_grad}
    assert {'conv1.weight', 'stages.0.0.conv1.weight',
            'conv_outs.0.weight'} <= frozen
    assert 'stages.1.0.conv1.weight' not in frozen


@pytest.mark.parametrize('kwargs,word', [
    (dict(rla_source='residual'), 'rla_source'),
    (dict(deep_stem=True), 'deep_stem'),
    (dict(style='caffe'), 'style'),
    (dict(base_channels=32), 'has shape'),
])
def test_authors_forward_refuses_what_their_code_cannot_run(kwargs, word):
    from rla_mm.analysis.authors import AuthorsRLAResNet
    from rla_mm.models import RLAResNet
    with pytest.raises(ValueError, match=word):
        AuthorsRLAResNet(RLAResNet(18, rla_channel=8, **kwargs))
    with pytest.raises(ValueError, match='RLAResNet'):
        AuthorsRLAResNet(torch.nn.Conv2d(1, 1, 1))


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


def test_get_flops_from_a_detector_config(get_flops, capsys, tmp_path):
    cfg = os.path.join(REPO_ROOT, 'configs', 'demo', 'faster_rcnn_rla_demo.py')
    res = get_flops.main([cfg, '--shape', '128', '--out-dir',
                          str(tmp_path)])
    assert res['kind'] == 'detector' and res['flops'] > 0
    assert 'params:' in capsys.readouterr().out
    saved = json.loads((tmp_path / 'flops.json').read_text())
    assert saved['flops'] == res['flops']


@pytest.mark.slow
def test_get_flops_paper_table_and_plot(get_flops, tmp_path):
    """Tables 3, 11 and 15 in the paper's units (numel / 2^20, thop MACs /
    2^30): every row of the authors' ResNet models agrees with the printed
    digits, and the exact counts are the thop counts of the authors' own
    networks (rla_mm/testing/authors_rla_variants.py)."""
    png = tmp_path / 'rla_cost_vs_accuracy.png'
    js = tmp_path / 'rla_paper_table.json'
    rows = get_flops.main(['--paper-table', '--out-dir', str(tmp_path)])
    by = {(r['table'], r['model']): r for r in rows}
    mobilenets = {r['model'] for r in rows if 'MobileNetV2' in r['model']}
    agreeing = [r for r in rows if r['agrees']]
    assert not [r['model'] for r in rows if r['agrees'] is False and
                r['model'] not in mobilenets]
    assert len(agreeing) == 23
    assert all(r['params_agree'] is not False for r in rows)
    for (table, model), (numel, macs) in {
            ('Table 3', 'ResNet-50'): (25_557_032, 4_111_514_624),
            ('Table 3', 'RLA-ResNet-50'): (25_870_696, 4_477_903_584),
            ('Table 3', 'RLA-ECANet-101'): (45_003_347, 8_376_899_040),
            ('Table 3', 'RLA-ResNet-152'): (60_770_792, 12_313_964_768),
            ('Table 3', 'RLA-MobileNetV2'): (3_625_320, 368_972_576),
            ('Table 11', '(a) channel +32'): (26_794_280, 4_556_020_560),
            ('Table 11', '(c) RLA-v1, no exchange'): (25_749_864,
                                                      4_416_889_568),
            ('Table 11', '(d) RLA-v1, ConvLSTM'): (26_128_680,
                                                   5_372_521_280),
            ('Table 11', '(e) RLA-v1, PostAct.'): (25_870_632,
                                                   4_477_900_448),
            ('Table 11', 'ConvGRU (code only)'): (26_056_104,
                                                  5_118_223_040),
            ('Table 15', 'RLA-ResNet-101, unshared'): (46_187_944,
                                                       8_367_760_352)}.items():
        assert (by[table, model]['params'], by[table, model]['macs']) == (
            numel, macs), model
    # the first block's conv1 on h_0 = 0, skipped by rla_mm, added back
    assert by['Table 3', 'RLA-ResNet-50']['zero_state_macs'] == 64 * 32 * 56**2
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert json.loads(js.read_text())['rows'][0]['model'] == 'ResNet-50'


def test_get_flops_counts_both_conv1_paths_alike(get_flops):
    """The CPU split path computes conv1's h half as a baddbmm, which
    mmengine's FlopAnalyzer has no handle for: counted all the same."""
    from rla_mm.analysis.build import build_backbone
    flops = [get_flops.count(build_backbone(dict(
        type='RLAResNet', depth=50, base_channels=16, rla_channel=8,
        split_conv1=split)), (64, 64))['flops'] for split in (True, False)]
    assert flops[0] == flops[1] > 0


def test_thop_rules_count_each_op_as_thop_does():
    """conv (+1 per output with a bias), BN 2 per element, average pooling 1
    per output, global pooling H W + 1 per output, linear in x out; ReLU,
    max pooling and element-wise ops nothing."""
    from rla_mm.analysis.paper_units import thop_macs
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, bias=True),  # 8*8*4*(27+1)
        torch.nn.BatchNorm2d(4), torch.nn.ReLU(),  # 2*256
        torch.nn.MaxPool2d(2),  # 0
        torch.nn.AvgPool2d(2),  # 4*2*2 outputs
        torch.nn.AdaptiveAvgPool2d(1),  # 4 * (4 + 1)
        torch.nn.Flatten(), torch.nn.Linear(4, 5))  # 20
    want = 8 * 8 * 4 * 28 + 2 * 256 + 16 + 4 * 5 + 20
    assert thop_macs(net, (8, 8)) == want


def test_profile_rla_attributes_the_rla_parts():
    profile_rla = _load('profile_rla')
    for extra, mode in ((['split_conv1=False'], 'infer'),
                        (['split_conv1=True'], 'infer'),
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
            assert (parts.get('backward (see the op table)', 0) > 0) == (
                mode == 'train')
        else:
            assert parts['RLA cat(x, h) for conv1'] > 0
            assert parts['RLA conv_out (1x1, C->k)'] > 0
        assert len(res['top']) == 3


def test_tools_import_only_the_installed_package():
    """No tool or test edits sys.path (tools import rla_mm as installed, and
    nothing from tests/); test helpers load tools from their file path."""
    hack = re.compile(r'sys\.path\.(insert|append|extend)|sys\.path\s*\+?=')
    offenders = []
    for top in ('tools', 'tests'):
        for folder, _, files in os.walk(os.path.join(REPO_ROOT, top)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = os.path.join(folder, name)
                with open(path) as f:
                    for i, line in enumerate(f, 1):
                        if hack.search(line):
                            offenders.append(
                                f'{os.path.relpath(path, REPO_ROOT)}:{i}')
    assert not offenders, offenders
