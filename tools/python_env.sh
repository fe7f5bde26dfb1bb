# Sourced by tools/dist_train.sh, dist_test.sh and slurm_train.sh: choose the
# interpreter the way a user expects after `make install`, in a fresh shell:
#   1. $PYTHON if set;
#   2. `python` of the active virtualenv ($VIRTUAL_ENV);
#   3. the project's $ROOT/.venv/bin/python if it exists;
#   4. `python` on PATH.
# and stop with one line if that interpreter has no torch. Needs $ROOT.
if [ -z "${PYTHON:-}" ]; then
    if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then
        PYTHON=$ROOT/.venv/bin/python
    else
        PYTHON=python
    fi
fi
if ! "$PYTHON" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' 2>/dev/null; then
    echo "error: '$PYTHON' cannot import torch: run \`make install\` in $ROOT (it creates .venv, which these scripts use), activate your environment, or set PYTHON=/path/to/python" >&2
    exit 1
fi
