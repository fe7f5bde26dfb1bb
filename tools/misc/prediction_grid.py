"""Tile the first N images of a folder into one PNG (the demo's picture).

    python tools/misc/prediction_grid.py SHOW_DIR [--out-dir DIR] [--num 16] [--cols 4]

SHOW_DIR is what ``tools/test.py --show-dir`` filled (mmdet draws each
validation image with ground truth on the left and predictions on the right).
The grid goes to ``DIR/predictions.png`` (default DIR: outputs), written to a
temp file and renamed into place. ``prediction_grid.py SHOW_DIR OUT.png``
(a file path as the second argument) still works but is deprecated.
"""
import argparse
import glob
import io
import os.path as osp
import sys

from PIL import Image

from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.engine.fileio import atomic_write_bytes

OUT_NAME = 'predictions.png'


def make_grid(paths, cols):
    """One RGB image with the images of ``paths`` in ``cols`` columns."""
    images = [Image.open(p).convert('RGB') for p in paths]
    w = max(im.width for im in images)
    h = max(im.height for im in images)
    rows = (len(images) + cols - 1) // cols
    grid = Image.new('RGB', (cols * w, rows * h), (255, 255, 255))
    for k, im in enumerate(images):
        grid.paste(im, ((k % cols) * w, (k // cols) * h))
    return grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('show_dir')
    p.add_argument('out', nargs='?', help=argparse.SUPPRESS)  # deprecated
    add_out_dir(p, help_text='folder of predictions.png')
    p.add_argument('--num', type=int, default=16)
    p.add_argument('--cols', type=int, default=4)
    args = p.parse_args(argv)
    if args.num < 1 or args.cols < 1:
        p.error('--num and --cols must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    paths = sorted(
        f for ext in ('png', 'jpg', 'jpeg')
        for f in glob.glob(osp.join(args.show_dir, '**', f'*.{ext}'),
                           recursive=True))[:args.num]
    if not paths:
        sys.exit(f'error: no images found under {args.show_dir}')
    out = output_path(args, OUT_NAME, legacy='out',
                      legacy_flag='an output file as 2nd argument')
    grid = make_grid(paths, min(args.cols, len(paths)))
    buf = io.BytesIO()
    grid.save(buf, format='PNG')
    atomic_write_bytes(buf.getvalue(), out)
    print(f'saved {len(paths)} predictions to {out}')
    return out


if __name__ == '__main__':
    main()
