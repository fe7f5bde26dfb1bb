"""Export a backbone to ONNX and run it with ONNX Runtime, as a deployment
would, for ``benchmark.py --runtime onnxruntime`` and ``profile_ort.py``.

The export is the one ``tests/test_models/test_deploy.py`` checks:
``torch.onnx.export(..., opset_version=17, dynamo=False)`` of the model in
eval mode, with dynamic batch and spatial axes; the session is ONNX
Runtime's CPU execution provider with every graph optimisation
(``ORT_ENABLE_ALL``: constant folding, Conv + BN / activation / add fusion,
the NCHWc layout transformer) and ``intra_op_num_threads`` threads.

Example:
    >>> from rla_mm.analysis.build import build_backbone
    >>> model = build_backbone(dict(type='RLAResNet', depth=18))
    >>> onnx_bytes = export_onnx(model, (1, 3, 64, 64))
    >>> session = make_session(onnx_bytes, threads=2)
    >>> step = ort_step(session, torch.rand(2, 3, 64, 64))
    >>> step()  # one InferenceSession.run
"""
import io
import json
import os
import warnings
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import nn

__all__ = ['export_onnx', 'make_session', 'ort_step', 'ort_node_times',
           'ort_part']


def export_onnx(model: nn.Module, input_shape: Sequence[int]) -> bytes:
    """The ONNX model (bytes) of a backbone called as ``model(x)``, traced
    in eval mode on zeros of ``input_shape``; input ``input``, outputs
    ``out0 ..``, dynamic batch, height and width.

    Raises:
        ValueError: If ``model`` is a detector or classifier: only
            backbones are exported here.
    """
    from .build import model_kind
    if model_kind(model) != 'backbone':
        raise ValueError(
            f'only backbones export to ONNX here, got a {model_kind(model)} '
            '(mmdet 3.3 exports whole detectors through mmdeploy, which is '
            'not part of rla_mm\'s stack)')
    model.eval()
    x = torch.zeros(*input_shape)
    with torch.no_grad():
        outs = model(x)
    n_out = len(outs) if isinstance(outs, (tuple, list)) else 1
    names = [f'out{i}' for i in range(n_out)]
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    axes.update({o: {0: 'batch', 2: f'{o}_h', 3: f'{o}_w'} for o in names})
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's deprecation notes
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x, ), buf, input_names=['input'],
                          output_names=names, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    return buf.getvalue()


def make_session(onnx_bytes: bytes,
                 threads: Optional[int] = None,
                 profile_prefix: Optional[str] = None):
    """An ONNX Runtime CPU session with all graph optimisations.

    Args:
        onnx_bytes (bytes): From :func:`export_onnx`.
        threads (int, optional): ``intra_op_num_threads`` (one inter-op
            thread); default: ONNX Runtime's.
        profile_prefix (str, optional): Enable ONNX Runtime's profiler,
            writing ``<prefix>_<date>.json`` (see :func:`ort_node_times`).
    """
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(onnx_bytes, options,
                                providers=['CPUExecutionProvider'])


def ort_step(session, x: torch.Tensor) -> Callable[[], None]:
    """A closure running ``session`` once on ``x`` (a float32 CPU tensor,
    converted once)."""
    feed = {session.get_inputs()[0].name: x.detach().float().numpy()}

    def step():
        session.run(None, feed)

    return step


def ort_node_times(profile_file: str,
                   skip_runs: int = 0) -> Dict[str, dict]:
    """Per-node kernel time of an ONNX Runtime profile (the JSON that
    ``session.end_profiling()`` wrote; deleted afterwards).

    Returns:
        dict: node name -> ``dict(op=op type, us=summed microseconds over
        the runs after the first ``skip_runs``, runs=that many runs,
        in_shapes=the inputs' shapes, out_shape=the first output's)``.
    """
    with open(profile_file) as f:
        events = json.load(f)
    os.remove(profile_file)
    runs = [e for e in events if e.get('cat') == 'Session'
            and e.get('name') == 'model_run']
    start = runs[skip_runs]['ts'] if skip_runs < len(runs) else float('inf')
    nodes: Dict[str, dict] = {}
    for e in events:
        name = e.get('name', '')
        if e.get('cat') != 'Node' or not name.endswith('_kernel_time') \
                or e['ts'] < start:
            continue
        args = e.get('args', {})
        entry = nodes.setdefault(
            name[:-len('_kernel_time')],
            dict(op=args.get('op_name', '?'), us=0.0,
                 in_shapes=_shapes(args.get('input_type_shape')),
                 out_shape=(_shapes(args.get('output_type_shape')) or
                            [None])[0]))
        entry['us'] += e['dur']
    for entry in nodes.values():
        entry['runs'] = max(len(runs) - skip_runs, 1)
    return nodes


def _shapes(entries) -> list:
    return [next(iter(s.values()), None) for s in entries or []]


#: ONNX ops that only compute shapes (the exporter's size arithmetic).
SHAPE_OPS = ('Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Slice', 'Concat',
             'Where', 'Equal', 'ConstantOfShape', 'Range', 'Cast')


def _channels(shape) -> Optional[int]:
    return shape[1] if shape and len(shape) > 1 else None


def ort_part(name: str, node: dict, rla_channel: int) -> str:
    """The part of an RLA network an ONNX Runtime node belongs to, from its
    name (the exporter names nodes by module path: ``/layer1/rla/...``,
    ``.../recurrent_conv/...``; fused nodes keep one of their names) and
    its shapes (the RLA ops are the ones on k = ``rla_channel`` channels).
    Parts shared with a plain network are ``'main path ...'``."""
    op, k = node['op'], rla_channel
    ins = [_channels(s) for s in node['in_shapes']]
    out = _channels(node['out_shape'])
    if op.startswith('Reorder'):
        return 'NCHWc reorders (RLA tensors)' if out == k \
            else 'NCHWc reorders (main path)'
    if 'recurrent_conv' in name or (op == 'Conv' and ins[:1] == [k]
                                     and out == k):
        return 'RLA recurrent conv (3x3, k->k)'
    if op == 'Conv' and out == k:
        return 'RLA projection conv_out (+ fused update ops)'
    if op == 'Concat' and k in ins and out and out > k:
        return 'RLA cat(x, h) for conv1'
    if op == 'MatMul' or (op == 'Conv' and ins[:1] == [k]):
        return 'RLA conv1 h part'
    if op in SHAPE_OPS or op in ('Reshape', 'Flatten', 'Expand'):
        return 'shape arithmetic, reshapes, weight slices'
    if op == 'Split':
        return 'RLA split of the shared conv1 / projection GEMM'
    if out == k and op in ('AveragePool', ):
        return 'RLA pool h'
    if out == k:
        return f'RLA h update ({op})'
    return f'main path ({op})'
