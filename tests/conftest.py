import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


def make_image_folder(root, num_classes=2, per_class=6, size=32, seed=0):
    """Write a tiny ImageNet-style folder dataset (``root/class_i/*.png``).

    Class i images are noise plus a bright square in quadrant i, so a small
    classifier can learn them in a few steps.
    """
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in range(num_classes):
        d = os.path.join(root, f'class_{c}')
        os.makedirs(d, exist_ok=True)
        for k in range(per_class):
            img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            q = size // 2
            y0, x0 = (c // 2) * q, (c % 2) * q
            img[y0:y0 + q, x0:x0 + q] = 220
            Image.fromarray(img).save(os.path.join(d, f'{k}.png'))
    return root


@pytest.fixture
def image_folder(tmp_path):
    return make_image_folder(str(tmp_path / 'images'))


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """``init_default_scope`` in one test must not change the next test's
    registry lookups: restore mmengine's DefaultScope instances afterwards."""
    from mmengine.registry import DefaultScope
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
