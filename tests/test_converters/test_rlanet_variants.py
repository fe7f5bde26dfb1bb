"""The RLA authors' ablation-variant checkpoints (RLA paper Sec. 4.4, Table
11, Table 15) convert to RLAResNet options and give the same float64 logits
as the plain ports of their files (rla_mm/testing/authors_rla_variants.py);
the keys decide where they can, ``--arch`` where they cannot."""
import pytest
import torch
from mmpretrain.models import ImageClassifier

from rla_mm.converters import convert_rlanet_checkpoint
from rla_mm.testing.authors_rla_variants import build_authors_variant

from rlanet_sources import F64, load, randomize

# arch -> detected from the keys alone (else ambiguous: needs --arch)
ARCHS = {
    'rlav1_resnet50': False,
    'rlav2_resnet50': False,
    'rlav3_resnet50': False,
    'rlav4_resnet50': False,
    'rlav5_resnet50': False,
    'rlav6_resnet50': False,
    'resnet50_k': True,
    'rlarh_resnet50': True,
    'rlaus_resnet50': True,
    'rlav1p_resnet50': True,
    'rlalstm_resnet50': True,
    'rlagru_resnet50': True,
}


def save_from_train_py(path, model):
    """A file as the authors' train.py writes it: no ``arch`` field."""
    torch.save(dict(epoch=100,
                    state_dict={f'module.{k}': v
                                for k, v in model.state_dict().items()},
                    best_acc1=torch.tensor(76.5),
                    optimizer=dict(state={}, param_groups=[])), path)
    return str(path)


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """One randomised authors' model and its file per arch (built once)."""
    root = tmp_path_factory.mktemp('variants')
    out = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        ref = randomize(build_authors_variant(arch))
        out[arch] = ref, save_from_train_py(root / f'{arch}.pth.tar', ref)
    return out


@pytest.mark.slow
@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_variant_converts_to_the_same_logits(arch, sources, tmp_path):
    ref, src = sources[arch]
    dst = str(tmp_path / 'dst.pth')
    ckpt = convert_rlanet_checkpoint(
        src, dst, arch=None if ARCHS[arch] else arch)
    meta = ckpt['meta']
    model = ImageClassifier(
        backbone=meta['backbone'], neck=dict(type='GlobalAveragePooling'),
        head=meta['head']).eval()
    model.load_state_dict(load(dst)['state_dict'], strict=True)
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        want = ref.double()(x)
        got = model.double()(x, mode='tensor')
    assert want.abs().max() > 1e-2
    torch.testing.assert_close(got, want, **F64)
    assert meta['epoch'] == 100 and 'arch' in meta or ARCHS[arch]


def test_keys_that_v1_to_v6_share_need_arch(sources, tmp_path):
    _, src = sources['rlav2_resnet50']
    with pytest.raises(ValueError, match='--arch') as e:
        convert_rlanet_checkpoint(src)
    assert '\n' not in str(e.value)


@pytest.mark.parametrize('arch,match', [
    ('rlalstm_resnet50', 'convlstm key layout'),  # not the file's layout
    ('rlav2_resnet101', 'ResNet-101'),  # not the file's depth
    ('rlav9_resnet50', '`arch`'),  # not one of theirs
])
def test_wrong_arch_is_a_named_error(arch, match, sources):
    _, src = sources['rlav2_resnet50']
    with pytest.raises(ValueError, match=match):
        convert_rlanet_checkpoint(src, arch=arch)


def test_cli_takes_arch(sources, tmp_path, capsys):
    import importlib.util
    import os.path as osp

    from conftest import REPO_ROOT
    spec = importlib.util.spec_from_file_location(
        'rlanet2rla_mm', osp.join(REPO_ROOT, 'tools', 'model_converters',
                                  'rlanet2rla_mm.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    _, src = sources['rlav6_resnet50']
    dst = str(tmp_path / 'v6.pth')
    assert cli.main([src, dst, '--arch', 'rlav6_resnet50']) == 0
    backbone = load(dst)['meta']['backbone']
    assert (backbone['rla_source'], backbone['rla_update']) == ('shortcut',
                                                                'post')
    assert cli.main([src, dst]) == 1
    assert '--arch' in capsys.readouterr().err
