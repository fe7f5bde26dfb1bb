"""Installation of rla_mm (``pip install -e .``).

The pinned OpenMMLab stack (mmcv with ops in particular, which must be compiled)
is installed by ``tools/setup_env.sh`` / ``make``; the requirements here are the
lower bounds rla_mm needs at run time.
"""
import os.path as osp

from setuptools import find_packages, setup


def get_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'rla_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='rla_mm',
    version=get_version(),
    description='Recurrence in CNNs (RLA, RecNet/CRC, CSR-Conv, RC) for '
    'MMDetection 3.x and MMPretrain 1.x',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    package_data={'rla_mm.analysis': ['*.yml']},
    python_requires='>=3.8',
    install_requires=[
        'torch>=1.8', 'mmengine>=0.10.0,<1.0', 'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.0.0,<3.4.0', 'mmpretrain>=1.0.0,<1.3.0'
    ],
    license='Apache License 2.0',
    zip_safe=False,
)
