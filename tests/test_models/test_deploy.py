"""Deployment paths of the RLA backbones: BN folding (mmcv.cnn.fuse_conv_bn),
torch.compile without graph breaks, ONNX export run by onnxruntime.

Equalities are checked in float64 where the transformation is exact in
exact arithmetic (BN folding), so that a wrong fold cannot hide behind float32
rounding, and in float32 against onnxruntime.
"""
import io
import warnings

import numpy as np
import pytest
import torch
import torch._dynamo
from mmcv.cnn import fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.models import RLAECAResNet, RLAResNet
from rla_mm.testing.norms import randomize_bn

TINY = dict(base_channels=16, rla_channel=8)




def _backbones():
    """(id, constructor) of every RLA backbone, tiny."""
    import rla_mm.models as models
    yield 'rla18', lambda: RLAResNet(18, **TINY)
    yield 'rla50-cat', lambda: RLAResNet(50, split_conv1=False, **TINY)
    yield 'rla50-split', lambda: RLAResNet(50, split_conv1=True,
                                           concat_hidden=True, **TINY)
    yield 'rla-eca50-residual', lambda: RLAECAResNet(
        50, rla_source='residual', **TINY)
    if hasattr(models, 'RLAResNetCIFAR'):
        yield 'rla-cifar20', lambda: models.RLAResNetCIFAR(
            20, base_channels=8)
    if hasattr(models, 'RLAMobileNetV2'):
        yield 'rla-mbv2', lambda: models.RLAMobileNetV2(
            widen_factor=0.35, rla_channel=8, out_indices=(2, 4, 7))
    if hasattr(models, 'RLAXceptionCIFAR'):
        yield 'rla-xception', lambda: models.RLAXceptionCIFAR(
            rla_channel=4, stem_channels=(4, 8), entry_channels=(8, 12, 16),
            num_middle_blocks=2, exit_channels=(24, 24, 24))


BACKBONES = list(_backbones())


@pytest.mark.parametrize('split_conv1', [False, True])
@pytest.mark.parametrize('depth', [18, 50])
def test_fuse_conv_bn_gives_equal_outputs(depth, split_conv1):
    torch.manual_seed(0)
    model = RLAResNet(depth, split_conv1=split_conv1, zero_init_residual=False,
                      eca_kernel_sizes=(3, 3, 5, 5) if depth == 50 else None,
                      **TINY)
    randomize_bn(model)
    model = model.double().eval()
    x = torch.rand(2, 3, 67, 45, dtype=torch.float64)
    with torch.no_grad():
        want = model(x)
        fused = fuse_conv_bn(model)
        got = fused(x)
    # every conv+BN pair of the main path was folded (RLA's norms follow
    # the add, not a conv, so they stay)
    assert fused.layer1[0].bn1.__class__.__name__ == 'Identity'
    assert fused.layer1[0].conv1.bias is not None
    assert isinstance(fused.layer1.rla.norms[0], _BatchNorm)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('split_conv1', [False, True, 'auto'])
@pytest.mark.parametrize('train', [False, True])
def test_torch_compile_sees_one_graph(split_conv1, train):
    """dynamo traces the whole backbone, RLA updates included, as one graph:
    no graph break anywhere (eval and training, both conv1 paths, and the
    default 'auto', whose device check is static for dynamo)."""
    torch.manual_seed(0)
    model = RLAResNet(50, split_conv1=split_conv1, concat_hidden=True,
                      **TINY).train(train)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(torch.rand(2, 3, 64, 64))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.slow
def test_torch_compile_inductor_matches_eager():
    torch.manual_seed(0)
    model = RLAResNet(18, split_conv1=True, **TINY).eval()
    x = torch.rand(2, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        want, got = model(x), compiled(x)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    'name,build', BACKBONES, ids=[b[0] for b in BACKBONES])
def test_onnx_export_runs_in_onnxruntime(name, build):
    """One export with dynamic batch and spatial axes, then inputs of other
    sizes (odd ones too) give the PyTorch outputs."""
    ort = pytest.importorskip('onnxruntime')
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        n_out = len(model(x))
    outs = [f'out{i}' for i in range(n_out)]
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    axes.update({o: {0: 'batch', 2: f'{o}_h', 3: f'{o}_w'} for o in outs})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x, ), buf, input_names=['input'],
                          output_names=outs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    session = ort.InferenceSession(buf.getvalue(),
                                   providers=['CPUExecutionProvider'])
    for shape in [(1, 3, 64, 64), (2, 3, 97, 131), (1, 3, 45, 70)]:
        xi = torch.rand(*shape)
        with torch.no_grad():
            want = model(xi)
        got = session.run(None, {'input': xi.numpy()})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-4)
