"""Deterministic demo datasets, written without any download.

What ``make demo`` trains on, what the end-to-end tests and the docs' runnable
commands use (with fewer images). ``tools/misc/make_demo_data.py`` and
``tools/misc/make_cls_demo_data.py`` are thin command lines over the two
writers here.

- :func:`make_demo_data`: COCO-format detection / instance segmentation data.
  Three shape categories (circle, square, triangle) with boxes and polygon
  masks, drawn on varied backgrounds (gradients, noise, stripes,
  checkerboards). Layout, as mmdet's COCO configs expect::

      OUT/annotations/instances_train.json, instances_val.json
      OUT/train/*.png  OUT/val/*.png

- :func:`make_cls_demo_data`: a tiny ImageNet-style image folder. Four classes
  of one shape each (circle, square, triangle, cross) at a random position,
  size and colour on a noisy background, so a small CNN needs a few epochs to
  tell them apart. Layout, as mmpretrain's ``CustomDataset`` reads it::

      OUT/train/<class>/*.png  OUT/val/<class>/*.png

Both write the whole folder to a temporary sibling first and rename it into
place, so an interrupted run never leaves half a dataset behind.

Example:
    >>> root = make_demo_data('data/demo', num_train=16, num_val=4)
    >>> sorted(os.listdir(root))
    ['annotations', 'train', 'val']
    >>> make_cls_demo_data('data/demo_cls', num_train=2, num_val=2)
"""
import json
import math
import os
import os.path as osp
import shutil
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from rla_mm.models.utils.checks import check_int

__all__ = ['CATEGORIES', 'CLASSES', 'make_demo_data', 'make_cls_demo_data']

# ------------------------------------------------ detection (COCO format)
CATEGORIES = ('circle', 'square', 'triangle')


def _background(rng, size):
    h = w = size
    kind = rng.integers(4)
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    if kind == 0:  # linear gradient at a random angle
        a = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w] / size
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind == 1:  # smooth noise
        small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
        img = np.asarray(
            Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float64)
    elif kind == 2:  # stripes
        period = rng.integers(6, 20)
        yy, xx = np.mgrid[0:h, 0:w]
        mask = ((xx + yy * rng.integers(0, 2)) // period) % 2
        img = np.where(mask[..., None] == 1, c1, c2)
    else:  # checkerboard
        cell = rng.integers(8, 24)
        yy, xx = np.mgrid[0:h, 0:w]
        mask = (xx // cell + yy // cell) % 2
        img = np.where(mask[..., None] == 1, c1, c2)
    img = img + rng.normal(0, 8, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(rng, category, cx, cy, s):
    if category == 'circle':
        return [(cx + s / 2 * math.cos(t), cy + s / 2 * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    if category == 'square':
        a = rng.uniform(0, math.pi / 2)  # any rotation
        return [(cx + s / 2 * math.cos(a + k * math.pi / 2),
                 cy + s / 2 * math.sin(a + k * math.pi / 2)) for k in range(4)]
    a = rng.uniform(0, 2 * math.pi)
    return [(cx + s / 2 * math.cos(a + k * 2 * math.pi / 3),
             cy + s / 2 * math.sin(a + k * 2 * math.pi / 3)) for k in range(3)]


def _area(poly):
    x, y = np.asarray(poly).T
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def _iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0., min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0., min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _draw_split(rng, num_images, img_dir, size, first_ann_id=1):
    """Draw ``num_images`` PNGs into ``img_dir``; returns the COCO
    ``images`` and ``annotations`` lists of the split."""
    images, anns = [], []
    ann_id = first_ann_id
    for img_id in range(1, num_images + 1):
        img = Image.fromarray(_background(rng, size))
        draw = ImageDraw.Draw(img)
        boxes = []
        for _ in range(rng.integers(1, 5)):
            for _try in range(20):
                s = float(rng.uniform(0.16, 0.42) * size)
                cx, cy = rng.uniform(s / 2 + 1, size - s / 2 - 1, 2)
                cat = int(rng.integers(len(CATEGORIES)))
                poly = _polygon(rng, CATEGORIES[cat], cx, cy, s)
                xs, ys = [p[0] for p in poly], [p[1] for p in poly]
                box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
                if all(_iou(box, b) < 0.05 for b in boxes):
                    break
            else:
                continue
            boxes.append(box)
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            outline = tuple(255 - c for c in color)
            draw.polygon(poly, fill=color, outline=outline)
            anns.append(dict(
                id=ann_id, image_id=img_id, category_id=cat + 1,
                bbox=[round(v, 2) for v in box], area=round(_area(poly), 2),
                segmentation=[[round(v, 2) for p in poly for v in p]],
                iscrowd=0))
            ann_id += 1
        name = f'{img_id:05d}.png'
        img.save(osp.join(img_dir, name))
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
    return images, anns


def _write_folder(out_dir: str, fill) -> str:
    """Call ``fill(tmp_dir)`` on a fresh sibling of ``out_dir``, then put it
    in the place of ``out_dir`` (whose old content goes); the folder gets the
    permissions of a new folder under the umask (mkdtemp's are 0700)."""
    out_dir = osp.abspath(out_dir)
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.', dir=parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        fill(tmp)
        if osp.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def make_demo_data(out_dir: str,
                   num_train: int = 320,
                   num_val: int = 64,
                   size: int = 128,
                   seed: int = 0) -> str:
    """Write the COCO-format shapes dataset to ``out_dir``.

    Args:
        out_dir (str): Dataset folder; replaced as a whole if it exists.
        num_train (int): Training images (>= 1).
        num_val (int): Validation images (>= 1).
        size (int): Side of the square images in pixels (>= 32).
        seed (int): Seed of everything drawn.

    Returns:
        str: ``out_dir`` (absolute), holding
        ``annotations/instances_{train,val}.json``, ``train/00001.png`` ...,
        ``val/00001.png`` ... (each an RGB image of shape (size, size, 3)
        with 1-4 shapes).

    Raises:
        ValueError: If a count or the size is out of range.
    """
    check_int('num_train', num_train)
    check_int('num_val', num_val)
    check_int('size', size, low=32)
    rng = np.random.default_rng(seed)
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(CATEGORIES)]

    def fill(tmp):
        os.makedirs(osp.join(tmp, 'annotations'))
        for split, num in (('train', num_train), ('val', num_val)):
            os.makedirs(osp.join(tmp, split))
            images, anns = _draw_split(rng, num, osp.join(tmp, split), size)
            with open(osp.join(tmp, 'annotations',
                               f'instances_{split}.json'), 'w') as f:
                json.dump(dict(
                    info=dict(description='rla_mm demo shapes', version='1.0',
                              year=2026),
                    licenses=[], images=images, annotations=anns,
                    categories=categories), f)

    return _write_folder(out_dir, fill)


# --------------------------------------------- classification (folders)
CLASSES = ('circle', 'square', 'triangle', 'cross')


def draw_image(rng: np.random.Generator, label: int,
               size: int) -> Image.Image:
    """One (size, size) RGB image of class ``CLASSES[label]``."""
    bg = rng.integers(0, 256, 3)
    img = np.clip(bg + rng.normal(0, 30, (size, size, 3)), 0, 255)
    im = Image.fromarray(img.astype(np.uint8))
    draw = ImageDraw.Draw(im)
    r = rng.uniform(0.2, 0.35) * size
    cx, cy = rng.uniform(r, size - r, 2)
    # a colour far from the background, so the shape is always visible
    color = tuple(int(c) for c in (bg + 128 + rng.integers(-40, 40, 3)) % 256)
    name = CLASSES[label]
    if name == 'circle':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif name == 'square':
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif name == 'triangle':
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)],
                     fill=color)
    else:
        w = max(1, int(r / 3))
        draw.line([(cx - r, cy), (cx + r, cy)], fill=color, width=w)
        draw.line([(cx, cy - r), (cx, cy + r)], fill=color, width=w)
    return im


def make_cls_demo_data(out_dir: str,
                       num_train: int = 48,
                       num_val: int = 16,
                       size: int = 32,
                       seed: int = 0) -> str:
    """Write the image-folder classification dataset to ``out_dir``.

    Args:
        out_dir (str): Dataset folder; replaced as a whole if it exists.
        num_train (int): Training images per class (>= 1).
        num_val (int): Validation images per class (>= 1).
        size (int): Side of the square images in pixels (>= 16).
        seed (int): Seed of everything drawn.

    Returns:
        str: ``out_dir`` (absolute), holding ``train/<class>/0000.png`` ...
        and ``val/<class>/...`` for the four :data:`CLASSES`, each an RGB
        image of shape (size, size, 3).

    Raises:
        ValueError: If a count or the size is out of range.
    """
    check_int('num_train', num_train)
    check_int('num_val', num_val)
    check_int('size', size, low=16)
    rng = np.random.default_rng(seed)

    def fill(tmp):
        for split, num in (('train', num_train), ('val', num_val)):
            for label, name in enumerate(CLASSES):
                folder = osp.join(tmp, split, name)
                os.makedirs(folder)
                for i in range(num):
                    draw_image(rng, label, size).save(
                        osp.join(folder, f'{i:04d}.png'))

    return _write_folder(out_dir, fill)
