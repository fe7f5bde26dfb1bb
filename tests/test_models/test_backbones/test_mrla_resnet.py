"""MRLA-light ResNet (MRLA paper, ICLR 2023, Eq. 8; the authors' code):
exact counts, the authors' forward, freezing, norms, init, deployment."""
import copy
import io
import warnings

import numpy as np
import pytest
import torch
import torch._dynamo
from mmdet.models.backbones import ResNet
from mmpretrain.models import ImageClassifier
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.models import MRLALight, MRLAResNet
from rla_mm.testing.authors_mrla import resnet50_mrlal
from rla_mm.testing.norms import randomize_bn

# narrow models: BasicBlock widths 16..128, Bottleneck widths 64..512
TINY = dict(base_channels=16, mrla_head_dim=8)
F64 = dict(rtol=1e-10, atol=1e-10)


def _numel(model):
    return sum(p.numel() for p in model.parameters())


def _classifier(depth):
    return ImageClassifier(
        backbone=dict(type='MRLAResNet', depth=depth, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048))




# ------------------------------------------------------------------ counts
@pytest.mark.parametrize('depth,want', [(50, 25_738_452), (101, 44_939_646)])
def test_imagenet_classifier_counts_are_the_authors(depth, want):
    with torch.device('meta'):
        assert _numel(_classifier(depth)) == want
        if depth == 50:
            assert _numel(resnet50_mrlal()) == want


def test_detection_backbone_count():
    with torch.device('meta'):
        model = MRLAResNet(50, frozen_stages=1, norm_eval=True)
        assert _numel(model) == 23_689_452
        # + 12C + 2k per block over mmdet's ResNet-50
        assert _numel(model) - _numel(ResNet(50)) == 181_420
    assert sum(isinstance(m, MRLALight) for m in model.modules()) == 16


# ------------------------------------------------------ the authors' forward
def test_same_stage_features_as_the_authors_network_float64():
    torch.manual_seed(0)
    theirs = randomize_bn(resnet50_mrlal()).double().eval()
    ours = MRLAResNet(50).double().eval()
    from rla_mm.converters.mrla import authors_to_rla_mm_backbone
    theirs_sd = {k: v for k, v in theirs.state_dict().items()
                 if not k.startswith('fc.')}
    ours.load_state_dict(authors_to_rla_mm_backbone(theirs_sd), strict=True)
    x = torch.rand(1, 3, 67, 45, dtype=torch.float64)
    with torch.no_grad():
        for got, want in zip(ours(x), theirs.features(x)):
            assert want.abs().max() > 1e-3
            torch.testing.assert_close(got, want, **F64)


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('size', [(64, 64), (97, 131), (33, 17)])
def test_shapes_match_mmdet_resnet(depth, size):
    x = torch.rand(1, 3, *size)
    base = dict(base_channels=16)
    resnet, mrla = ResNet(depth, **base), MRLAResNet(depth, **TINY)
    resnet.eval()  # mmdet's ResNet.train() returns None
    with torch.no_grad():
        want, got = resnet(x), mrla.eval()(x)
    assert [o.shape for o in got] == [o.shape for o in want]


def test_dilated_stage_keeps_v_undilated():
    model = MRLAResNet(50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                       **TINY).eval()
    assert model.layer4[1].conv2.dilation == (2, 2)
    assert model.layer4[1].mrla.value_conv.dilation == (1, 1)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 65, 63))
    assert outs[3].shape[-2:] == outs[2].shape[-2:]


# -------------------------------------------------------- the recurrence
def test_carried_recurrence_threads_o_through_blocks():
    torch.manual_seed(0)
    shortcut = randomize_bn(MRLAResNet(18, **TINY)).double().eval()
    carried = MRLAResNet(18, recurrence='carried', **TINY).double().eval()
    carried.load_state_dict(shortcut.state_dict())
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        got = carried(x)
        # by hand: each block's brick gets the previous block's O, through
        # the shortcut conv (not its norm) when the shape changes
        h = carried.maxpool(carried.relu(carried.norm1(carried.conv1(x))))
        o, want = None, []
        for name in carried.res_layers:
            for block in getattr(carried, name):
                out, sc = block.residual(h)
                y = block.relu(out + sc)
                prev = sc if o is None else o
                if o is not None and block.downsample is not None:
                    prev = block.downsample[0](o)
                h, o = block.mrla(y, prev)
            want.append(h)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, **F64)
        assert not torch.allclose(got[-1], shortcut(x)[-1])


# ---------------------------------------------------- training machinery
@pytest.mark.parametrize('recurrence', ['shortcut', 'carried'])
def test_every_parameter_gets_a_gradient_in_detection_mode(recurrence):
    """DDP with find_unused_parameters=False needs this."""
    model = MRLAResNet(50, frozen_stages=1, norm_eval=True,
                       recurrence=recurrence, **TINY).train()
    sum(o.sum() for o in model(torch.rand(2, 3, 64, 64))).backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    assert not model.layer1[0].mrla.lambda_t.requires_grad
    assert model.layer2[0].mrla.lambda_t.grad is not None


def test_ddp_without_find_unused_parameters(tmp_path):
    """Two steps of a real (gloo, one process) DDP in detection mode: the
    second step fails if any trainable parameter got no gradient."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    try:
        model = DistributedDataParallel(
            MRLAResNet(50, frozen_stages=1, norm_eval=True, **TINY).train(),
            find_unused_parameters=False)
        for _ in range(2):
            sum(o.mean() for o in model(torch.rand(2, 3, 48, 48))).backward()
    finally:
        dist.destroy_process_group()


def test_frozen_stages_include_mrla():
    model = MRLAResNet(18, frozen_stages=2, norm_eval=False, **TINY).train()
    frozen = ('conv1.', 'bn1.', 'layer1.', 'layer2.')
    for name, p in model.named_parameters():
        assert p.requires_grad != name.startswith(frozen), name
    assert not model.layer2[1].mrla.norm.training
    assert model.layer3[0].mrla.norm.training
    before = copy.deepcopy(model.layer1[0].mrla.norm.state_dict())
    model(torch.rand(2, 3, 64, 64))
    for k, v in model.layer1[0].mrla.norm.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_norm_eval_covers_mrla_norms():
    model = MRLAResNet(18, norm_eval=True, **TINY)
    assert model.train() is model  # chains like torch's train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(not m.training for m in bns)
    assert model.layer4[1].mrla.norm in bns


def test_norm_eval_default_follows_the_scope():
    from mmengine.registry import DefaultScope
    assert not MRLAResNet(18, **TINY).norm_eval
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert MRLAResNet(18, **TINY).norm_eval  # as mmdet's ResNet
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert not MRLAResNet(18, **TINY).norm_eval


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    ref = MRLAResNet(18, norm_eval=False, **TINY)
    cp = MRLAResNet(18, with_cp=True, norm_eval=False, **TINY)
    cp.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 64)
    results = []
    for model in (ref, cp):
        xi = x.clone().requires_grad_()
        outs = model.train()(xi)
        sum((o * o).sum() for o in outs).backward()
        results.append((outs, xi.grad, {n: p.grad
                                        for n, p in model.named_parameters()}))
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(results[0][1], results[1][1])
    for n, g in results[0][2].items():
        torch.testing.assert_close(g, results[1][2][n], msg=n)


def test_norm_cfg_builds_the_mrla_norms():
    sync = MRLAResNet(18, norm_cfg=dict(type='SyncBN'), **TINY)
    assert isinstance(sync.layer3[1].mrla.norm, torch.nn.SyncBatchNorm)
    gn = MRLAResNet(18, norm_cfg=dict(type='GN', num_groups=8), **TINY)
    assert isinstance(gn.layer2[0].mrla.norm, torch.nn.GroupNorm)
    gn(torch.rand(1, 3, 40, 40))


def test_init_follows_the_authors():
    torch.manual_seed(0)
    model = MRLAResNet(50)
    lam = model.layer3[2].mrla.lambda_t.detach().clone()
    model.init_weights()
    block = model.layer3[2]
    assert torch.all(block.norm3.weight == 0)  # last BN zero-init
    assert torch.all(block.mrla.norm.weight == 1)  # BN_mrla active
    assert torch.all(block.mrla.norm.bias == 0)
    torch.testing.assert_close(block.mrla.lambda_t, lam)  # N(0,1) kept
    # Kaiming normal, fan_out, ReLU for the depthwise V too
    std = block.mrla.value_conv.weight.std().item()
    assert abs(std / (2 / (1024 * 9))**0.5 - 1) < 0.1


def test_drop_path_rate_reaches_every_block():
    model = MRLAResNet(50, drop_path_rate=0.2, **TINY)
    rates = {b.mrla.drop_path.drop_prob for n in model.res_layers
             for b in getattr(model, n)}
    assert rates == {0.2}
    assert MRLAResNet(50, **TINY).layer1[0].mrla.drop_path.drop_prob == 0


def test_builds_from_mmdet_and_mmpretrain_registries():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    for registry in (DET, CLS):
        model = registry.build(dict(type='MRLAResNet', depth=18, **TINY))
        assert isinstance(model, MRLAResNet)


@pytest.mark.parametrize('kwargs,word', [
    (dict(depth=42), 'depth'),
    (dict(depth=18, base_channels=16), 'mrla_head_dim'),  # 16 < 32
    (dict(depth=50, mrla_head_dim=48), 'mrla_head_dim'),
    (dict(depth=18, recurrence='paper'), 'recurrence'),
    (dict(depth=18, out_indices=(4, )), 'out_indices'),
    (dict(depth=18, frozen_stages=5), 'frozen_stages'),
    (dict(depth=18, num_stages=5), 'num_stages'),
    (dict(depth=18, strides=(1, 2)), 'strides'),
    (dict(depth=18, style='tf'), 'style'),
    (dict(depth=50, drop_path_rate=-0.1), 'drop_path_rate'),
    (dict(depth=50, lambda_init='uniform'), 'lambda_init'),
    (dict(depth=18, dcn=dict(type='DCNv2')), 'dcn'),
    (dict(depth=50, dcn=dict(type='DCNv2'), stage_with_dcn=(True, )),
     'stage_with_dcn'),
    (dict(depth=18, norm_eval='yes'), 'norm_eval'),
    (dict(depth=18, in_channels=0), 'in_channels'),
])
def test_invalid_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MRLAResNet(**kwargs)


# --------------------------------------------------------------- deployment
@pytest.mark.parametrize('recurrence,train', [('shortcut', False),
                                              ('carried', True)])
def test_torch_compile_sees_one_graph(recurrence, train):
    model = MRLAResNet(50, recurrence=recurrence, drop_path_rate=0.2,
                       **TINY).train(train)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model)(torch.rand(2, 3, 64, 64))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    model = randomize_bn(MRLAResNet(18, **TINY)).eval()
    x = torch.rand(2, 3, 67, 45)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        for g, w in zip(compiled(x), model(x)):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('recurrence', ['shortcut', 'carried'])
def test_onnx_export_runs_in_onnxruntime(recurrence, tmp_path):
    """One export with dynamic batch and spatial axes; odd sizes give the
    PyTorch outputs."""
    ort = pytest.importorskip('onnxruntime')
    torch.manual_seed(0)
    model = randomize_bn(MRLAResNet(50, recurrence=recurrence,
                                        **TINY)).eval()
    outs = [f'out{i}' for i in range(4)]
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    axes.update({o: {0: 'batch', 2: f'{o}_h', 3: f'{o}_w'} for o in outs})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (torch.rand(1, 3, 64, 64), ), buf,
                          input_names=['input'], output_names=outs,
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    session = ort.InferenceSession(buf.getvalue(),
                                   providers=['CPUExecutionProvider'])
    for shape in [(1, 3, 64, 64), (2, 3, 97, 131), (1, 3, 45, 70)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            want = model(x)
        got = session.run(None, {'input': x.numpy()})
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-4)

