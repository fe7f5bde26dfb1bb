"""The deployment runtimes of the analysis tools (issue: RLA at its FLOPs
cost under ONNX Runtime and torch.compile): ``benchmark.py --runtime
onnxruntime``, ``profile_ort.py``, and what the exported graph of an RLA
backbone holds. Numbers are not asserted (no wall-clock bound in a unit
test); the bookkeeping and the graphs' structure are."""
import importlib.util
import json
import os

import onnx
import pytest

from conftest import REPO_ROOT
from rla_mm.analysis.build import build_backbone
from rla_mm.analysis.onnx_runtime import export_onnx

TOOLS = os.path.join(REPO_ROOT, 'tools', 'analysis_tools')
TINY_RLA = ['type=RLAResNet', 'depth=50', 'base_channels=16', 'rla_channel=8']
TINY_RES = ['type=mmdet.ResNet', 'depth=50', 'base_channels=16',
            'norm_eval=False']


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f'rla_tool_{name}', os.path.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_times_onnxruntime_sessions(tmp_path, capsys):
    benchmark = _load('benchmark')
    res = benchmark.main([
        '--runtime', 'onnxruntime', '--backbone', *TINY_RLA,
        '--baseline-backbone', *TINY_RES, '--variant',
        'split split_conv1=True', '--mode', 'infer', '--batch-size', '2',
        '--input-size', '48', '--warmup', '1', '--repeats', '2',
        '--threads', '1', '--out-dir', str(tmp_path)])
    assert '| baseline | infer (onnxruntime) |' in capsys.readouterr().out
    saved = json.loads((tmp_path / 'benchmark.json').read_text())
    assert saved['env']['runtime'] == 'onnxruntime'
    assert saved['env']['onnxruntime']
    rows = res['modes']['infer']['rows']
    assert [r['model'] for r in rows] == ['baseline', 'model', 'split']
    assert all(len(r['times_s']) == 2 and r['median_ms'] > 0 for r in rows)


@pytest.mark.parametrize('flag', [['--mode', 'train'], ['--compile'],
                                  ['--amp'], ['--memory']])
def test_onnxruntime_refuses_what_it_cannot_time(flag, capsys):
    benchmark = _load('benchmark')
    with pytest.raises(SystemExit):
        benchmark.main(['--runtime', 'onnxruntime', '--backbone', *TINY_RLA,
                        '--mode', 'infer', *flag])
    assert 'onnxruntime' in capsys.readouterr().err


def test_profile_ort_attributes_the_rla_parts(tmp_path):
    profile_ort = _load('profile_ort')
    res = profile_ort.main([
        '--backbone', *TINY_RLA, '--baseline-backbone', *TINY_RES,
        '--batch-size', '2', '--input-size', '64', '--warmup', '1',
        '--repeats', '2', '--threads', '1', '--top', '3', '--out-dir',
        str(tmp_path)])
    rla, base = res['parts']['rla'], res['parts']['baseline']
    assert rla['RLA recurrent conv (3x3, k->k)'] > 0
    assert not any(p.startswith('RLA') for p in base)
    assert res['total_ms']['rla'] > 0 and len(res['top']) == 3
    assert json.loads((tmp_path / 'profile_ort.json').read_text())['parts']


def _initializer_users(model):
    inits = {i.name for i in model.graph.initializer}
    return [n for n in model.graph.node
            if n.op_type in ('Slice', 'Concat', 'Expand', 'MatMul')
            and any(i in inits for i in n.input)]


@pytest.mark.parametrize('split_conv1', [True, False, 'auto'])
def test_exported_convs_have_constant_weights(split_conv1):
    """Exported, every conv weight is a constant (so ONNX Runtime folds
    BN into it and prepacks it): no weight is sliced, stacked or expanded
    at run time, and conv1's h half is a conv, not a batched MatMul."""
    model = build_backbone(dict(type='RLAResNet', depth=50, base_channels=16,
                                rla_channel=8, split_conv1=split_conv1))
    graph = onnx.load_from_string(export_onnx(model, (1, 3, 64, 64)))
    assert not _initializer_users(graph)
    assert 'MatMul' not in {n.op_type for n in graph.graph.node}
