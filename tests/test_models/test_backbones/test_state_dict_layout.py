"""Every state-dict key and shape of the RLA backbones is pinned, so that the
authors' converted checkpoints and rla_mm checkpoints saved by earlier
versions keep loading (issue 11: the RLA core was rewritten without changing
a single key). ``tests/data/rla_state_dict_layouts.json`` was written from
the first release's code; regenerate it only for a deliberate layout change:

    .venv/bin/python tests/test_models/test_backbones/test_state_dict_layout.py --write
"""
import json
import os.path as osp
import sys

import pytest
import torch

from rla_mm.models import (RLAECAResNet, RLAMobileNetV2, RLAResNet,
                           RLAResNetCIFAR)

LAYOUTS = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'data',
                   'rla_state_dict_layouts.json')

# name -> (class, kwargs): the backbones behind the configs, converted
# checkpoints and the paper's tables (full widths: shapes matter).
BACKBONES = {
    'rla_resnet18_det': (RLAResNet, dict(depth=18)),
    'rla_resnet50_det': (RLAResNet, dict(depth=50)),
    'rla_resnet50_cls': (RLAResNet, dict(depth=50, concat_hidden=True,
                                         out_indices=(3, ))),
    'rla_resnet101_det': (RLAResNet, dict(depth=101)),
    'rla_resnet101_cls': (RLAResNet, dict(depth=101, concat_hidden=True,
                                          out_indices=(3, ))),
    'rla_ecanet50_det': (RLAECAResNet, dict(depth=50)),
    'rla_ecanet50_cls': (RLAECAResNet, dict(depth=50, concat_hidden=True,
                                            out_indices=(3, ))),
    'rla_mobilenet_v2_cls': (RLAMobileNetV2, dict(concat_hidden=True)),
    'rla_eca_mobilenet_v2_cls': (RLAMobileNetV2, dict(concat_hidden=True,
                                                      with_eca=True)),
    'rla_mobilenet_v2_det': (RLAMobileNetV2, dict(out_indices=(2, 4, 6))),
    'rla_resnet110_cifar': (RLAResNetCIFAR, dict(depth=110)),
    'rla_resnet164_cifar': (RLAResNetCIFAR, dict(depth=164)),
}


def layout(name):
    cls, kwargs = BACKBONES[name]
    with torch.device('meta'):
        model = cls(**kwargs)
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_state_dict_keys_and_shapes_are_unchanged(name):
    with open(LAYOUTS) as f:
        want = json.load(f)[name]
    got = layout(name)
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    assert not missing and not unexpected, (missing[:5], unexpected[:5])
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, wrong


if __name__ == '__main__' and '--write' in sys.argv:
    with open(LAYOUTS, 'w') as f:
        json.dump({n: layout(n) for n in sorted(BACKBONES)}, f, indent=0,
                  sort_keys=True)
    print(f'wrote {LAYOUTS}')
