"""RC bricks: the BN groups of one block (``StepNorms``) and the RC cell
(``RCPreActBlock``).

[RC-CA] Zhendong Zhang, Cheolkon Jung, *Recurrent Convolution for Compact and
Cost-Adjustable Neural Networks: An Empirical Study*, arXiv:1902.09809
(Eq. 4, 6, Sec. 3.3, 4.1-4.2); [RC-MC] Zhendong Zhang, Cheolkon Jung,
*Recurrent Convolutions: A Model Compression Point of View*, NeurIPS 2018
Workshop CDNNRIA (Fig. 1(a), App. A).
"""
import pytest
import torch

from rla_mm.models import RCPreActBlock, StepNorms, pool_before_step


def test_norm_group_counts():
    def groups(**kw):
        return len(StepNorms([4, 4], **kw))

    assert groups(max_steps=4) == 4  # independent: one per step
    assert groups(max_steps=4, bn_mode='shared') == 1
    assert groups(max_steps=4, bn_mode='none') == 0
    assert groups(max_steps=4, num_contexts=4) == 10  # lower triangle of Eq.6
    assert groups(max_steps=4, num_contexts=4, triangular=False) == 16
    assert groups(max_steps=1, num_contexts=3) == 3  # a T block
    norms = StepNorms([4, 4], max_steps=3, num_contexts=3)
    assert norms.group(2, 3) is norms[4]  # pairs (1,1)(2,1)(2,2)(3,1)(3,2)
    with pytest.raises(KeyError, match='upstream steps 1, step 2'):
        norms.group(2, 1)


def test_unrolled_cell_shares_or_owns_its_convs():
    shared = RCPreActBlock(4, max_steps=3)
    own = RCPreActBlock(4, max_steps=3, share_weights=False)
    conv_params = 2 * 4 * 4 * 9
    assert sum(p.numel() for p in shared.shared_convs.parameters()) == \
        conv_params
    assert sum(p.numel() for p in own.step_convs.parameters()) == \
        3 * conv_params
    x = torch.randn(2, 4, 6, 6)
    assert shared(x, num_steps=2).shape == own(x).shape == (2, 4, 6, 6)


def test_pool_position_follows_the_papers():
    # [RC-MC] App. A: before the only step for n = 1; [RC-CA] Sec. 5: after
    # step ceil(n / 2)
    assert [pool_before_step(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 3, 3, 4]


def test_bad_cell_arguments_raise_early():
    with pytest.raises(ValueError, match='keep its shape'):
        RCPreActBlock(4, 8, max_steps=2)
    with pytest.raises(ValueError, match='`bn_mode` must be one of'):
        RCPreActBlock(4, bn_mode='group')
    with pytest.raises(ValueError, match=r'`num_steps` must be an int in '
                       r'\[1, 2\]'):
        RCPreActBlock(4, max_steps=2)(torch.randn(1, 4, 4, 4), num_steps=3)
    with pytest.raises(ValueError, match=r'`step` must be an int in \[1, 3\]'):
        StepNorms([4], max_steps=3).group(4)
    with pytest.raises(ValueError, match='double independent BN'):
        StepNorms([4], max_steps=3, bn_mode='shared', num_contexts=2)
