"""Run a Python snippet in a fresh process with chosen thread settings (for the exact-decoding tests).

The lossy and VQ files must decode to the same bytes whatever the thread
counts of TensorFlow, OpenMP and BLAS; the tests encode in one process and
decode in others with :data:`ONE_THREAD`, :data:`MANY_THREADS` or the defaults.
Bits-back files likewise: :func:`decompress_with_one_thread` runs the CLI's
decompress in a process whose TensorFlow has one thread.
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


DECOMPRESS_WITH_ONE_THREAD = """
import sys
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from vae import cli
sys.exit(cli.main(["decompress", *sys.argv[1:]]))
"""


def decompress_with_one_thread(packed, restored, checkpoint=None) -> None:
    """``python -m vae decompress packed -o restored [--checkpoint checkpoint]`` in a fresh one-thread process.

    TensorFlow's thread counts are set in the process before any work, as a
    reader on a one-core machine would have them; fails the test with the
    process's last stderr if it does not exit with 0.
    """
    arguments = [str(packed), "-o", str(restored)]
    if checkpoint is not None:
        arguments += ["--checkpoint", str(checkpoint)]
    result = subprocess.run([sys.executable, "-c", DECOMPRESS_WITH_ONE_THREAD, *arguments], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
