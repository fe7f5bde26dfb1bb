"""DropoutLinearClsHead: mmpretrain's LinearClsHead with MobileNetV2's
Dropout(0.2) before the linear layer (RLA paper App. B.2.1, the authors'
dsRLA-MobileNetV2 classifier)."""
import pytest
import torch
from mmpretrain.models.heads import LinearClsHead

from rla_mm.models.heads import DropoutLinearClsHead


def _feats(n=64, c=16):
    return (torch.ones(n, c), )


def test_dropout_acts_in_train_mode_only():
    head = DropoutLinearClsHead(num_classes=3, in_channels=16)
    with torch.no_grad():
        head.fc.weight.fill_(1.0)
        head.fc.bias.zero_()
        head.train()
        train = head(_feats())
        head.eval()
        eval_a, eval_b = head(_feats()), head(_feats())
    torch.testing.assert_close(eval_a, eval_b)
    torch.testing.assert_close(eval_a, torch.full((64, 3), 16.0))
    # train: inputs zeroed with p = 0.2, the rest scaled by 1 / 0.8
    assert not torch.allclose(train, eval_a)
    kept = train[:, 0] * 0.8
    torch.testing.assert_close(kept, kept.round())
    assert 0.6 < kept.mean().item() / 16 < 1.0


def test_state_dict_and_pre_logits_are_linear_cls_heads():
    torch.manual_seed(0)
    plain = LinearClsHead(num_classes=5, in_channels=8)
    head = DropoutLinearClsHead(num_classes=5, in_channels=8,
                                dropout_rate=0.5)
    assert list(head.state_dict()) == list(plain.state_dict())
    head.load_state_dict(plain.state_dict(), strict=True)
    x = (torch.rand(4, 8), )
    head.train()
    torch.testing.assert_close(head.pre_logits(x), x[0])
    torch.testing.assert_close(head.eval()(x), plain.eval()(x))


@pytest.mark.parametrize('rate', [-0.1, 1.0, 1.5, '0.2', True, None])
def test_bad_dropout_rate_is_refused(rate):
    with pytest.raises(ValueError, match='`dropout_rate` must be a float in'):
        DropoutLinearClsHead(num_classes=2, in_channels=4, dropout_rate=rate)
