"""rla_mm builds from mmdet's, mmpretrain's and mmengine's registries."""
import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import MODELS as ROOT
from mmengine.registry import DefaultScope

import rla_mm  # noqa: F401
from rla_mm.models import RLAResNet

CFG = dict(type='RLAResNet', depth=18, base_channels=8, rla_channel=4)


@pytest.mark.parametrize('scope', [None, 'mmdet', 'mmpretrain'])
def test_builds_from_every_registry_under_any_scope(scope):
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    name = f'test_registry_{scope}'
    ctx = DefaultScope.get_instance(name, scope_name=scope) if scope else None
    try:
        for registry in (DET, CLS, ROOT):
            assert type(registry.build(dict(CFG))) is RLAResNet
    finally:
        if ctx is not None:
            DefaultScope._instance_dict.pop(name, None)


def test_single_registration_in_root():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    assert 'RLAResNet' in ROOT.module_dict
    assert 'RLAResNet' not in DET.module_dict
    assert 'RLAResNet' not in CLS.module_dict


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
def test_custom_imports_in_a_config(tmp_path, scope):
    """A fresh interpreter that only names rla_mm in ``custom_imports``."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent(f"""
        default_scope = '{scope}'
        custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)
        model = dict(type='RLAECAResNet', depth=18, base_channels=8,
                     rla_channel=4)
    """))
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        assert 'rla_mm' not in sys.modules
        cfg = Config.fromfile({str(cfg)!r})
        init_default_scope(cfg.default_scope)
        from {scope}.registry import MODELS
        model = MODELS.build(cfg.model)
        print(type(model).__module__, type(model).__name__)
    """)
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, check=True).stdout
    assert 'rla_mm.models.backbones.rla_resnet RLAECAResNet' in out
