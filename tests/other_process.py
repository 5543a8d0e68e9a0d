"""Run a Python snippet in a fresh process with chosen thread settings (for the exact-decoding tests).

The lossy and VQ files must decode to the same bytes whatever the thread
counts of TensorFlow, OpenMP and BLAS; the tests encode in one process and
decode in others with :data:`ONE_THREAD`, :data:`MANY_THREADS` or the defaults.
"""

import os
import subprocess
import sys

THREAD_VARIABLES = ("TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
ONE_THREAD = {"TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1"}
MANY_THREADS = {"OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "3", "TF_NUM_INTRAOP_THREADS": "3"}


def run_python(script: str, arguments: list, threads: dict) -> str:
    """The last line ``script`` prints, run as ``python -c script *arguments`` with only ``threads`` set."""
    environment = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    environment.update(threads)
    result = subprocess.run([sys.executable, "-c", script, *map(str, arguments)], capture_output=True,
                            text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]
