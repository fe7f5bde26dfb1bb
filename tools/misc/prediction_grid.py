"""Tile the first N images of a folder into one PNG (the demo's picture).

    python tools/misc/prediction_grid.py SHOW_DIR OUT.png [--num 16] [--cols 4]

SHOW_DIR is what ``tools/test.py --show-dir`` filled (mmdet draws each
validation image with ground truth on the left and predictions on the right).
"""
import argparse
import glob
import os
import os.path as osp
import sys
import tempfile

from PIL import Image


def make_grid(paths, cols):
    images = [Image.open(p).convert('RGB') for p in paths]
    w = max(im.width for im in images)
    h = max(im.height for im in images)
    rows = (len(images) + cols - 1) // cols
    grid = Image.new('RGB', (cols * w, rows * h), (255, 255, 255))
    for k, im in enumerate(images):
        grid.paste(im, ((k % cols) * w, (k // cols) * h))
    return grid


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('show_dir')
    p.add_argument('out')
    p.add_argument('--num', type=int, default=16)
    p.add_argument('--cols', type=int, default=4)
    args = p.parse_args(argv)
    if args.num < 1 or args.cols < 1:
        p.error('--num and --cols must be >= 1')
    paths = sorted(
        f for ext in ('png', 'jpg', 'jpeg')
        for f in glob.glob(osp.join(args.show_dir, '**', f'*.{ext}'),
                           recursive=True))[:args.num]
    if not paths:
        sys.exit(f'error: no images found under {args.show_dir}')
    grid = make_grid(paths, min(args.cols, len(paths)))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.png', dir=osp.dirname(
        osp.abspath(args.out)))
    os.close(fd)
    grid.save(tmp, format='PNG')
    os.replace(tmp, args.out)
    print(f'saved {len(paths)} predictions to {args.out}')


if __name__ == '__main__':
    main()
