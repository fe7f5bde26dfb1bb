"""tools/analysis_tools/benchmark_crc.py: the CRC fast path against the
per-step loop of RecNets Eq. 3 (Retsinas et al., *RecNets: Channel-wise
Recurrent Convolutional Neural Networks*, BMVC 2019, arXiv:1905.11910),
run as a user runs it, on a tiny shape."""
import json
import os
import os.path as osp

import pytest
from demo_utils import run_tool

TOOL = 'tools/analysis_tools/benchmark_crc.py'
TINY = ['--shapes', '8:2:2:4', '--batch-size', '1', '--repeats', '1',
        '--warmup', '0', '--threads', '1']


@pytest.mark.slow
def test_out_dir_gets_the_json_record(tmp_path):
    out_dir = tmp_path / 'bench'
    proc = run_tool([TOOL, *TINY, '--out-dir', str(out_dir)])
    assert 'CRC(8->16, d=2) @4' in proc.stdout
    assert os.listdir(out_dir) == ['benchmark_crc.json']  # no temp file left
    with open(out_dir / 'benchmark_crc.json') as f:
        record = json.load(f)
    [speed] = record['speed']
    assert speed['max_abs_diff'] <= 1e-9  # fast path == loop, float64
    assert record['memory'][0]['shape'] == 'Rec(8->16->8, d=2) @4'


@pytest.mark.slow
def test_deprecated_json_flag_still_writes_its_file(tmp_path):
    path = tmp_path / 'old' / 'crc.json'
    proc = run_tool([TOOL, *TINY, '--skip-memory', '--json', str(path)],
                    env=dict(PYTHONWARNINGS='default'))
    assert '--json FILE is deprecated' in proc.stderr
    assert osp.isfile(path) and 'memory' not in json.loads(path.read_text())
    proc = run_tool([TOOL, *TINY, '--json', str(path), '--out-dir',
                     str(tmp_path)], check=False)
    assert proc.returncode == 2 and 'give --out-dir only' in proc.stderr
