"""convpipe: a reproducible image-classification pipeline over DVC, TensorFlow and MLflow."""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator


def _process_age() -> float:
    """Seconds since this process started (Linux), so start-up counts the imports before convpipe's too."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime", encoding="ascii") as uptime:
            started = int(stat.read().rpartition(")")[2].split()[19]) / os.sysconf("SC_CLK_TCK")
            return max(float(uptime.read().split()[0]) - started, 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


# A stage's start-up cost (imports, tracking set-up) is measured from here.
STARTED = time.perf_counter() - _process_age()

# TFMOT (quantization-aware training, pruning) works only with Keras 2, so every model is built with
# tf.keras resolved to tf_keras. TensorFlow reads this switch when tf.keras is first used, not on import,
# so importing tensorflow before convpipe is fine; using tf.keras before it is not.
_keras = getattr(sys.modules.get("tensorflow"), "keras", None)
if type(_keras).__name__ != "KerasLazyLoader" and not getattr(_keras, "__name__", "tf_keras").startswith("tf_keras"):
    raise ImportError(
        "tf.keras was used before convpipe was imported, so it is Keras 3; import convpipe first "
        "(it selects Keras 2 via TF_USE_LEGACY_KERAS=1)"
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"

# TensorFlow's C++ start-up lines (CUDA drivers not found, cuInit, CPU instructions, absl) say nothing a
# convpipe user can act on. Silenced unless the user set TF_CPP_MIN_LOG_LEVEL: level 3 hides the C++ log,
# and the lines absl prints before its logging starts are filtered out of stderr while tensorflow imports.
NOISE = re.compile(
    rb"cudart_stub|cuda_platform|cuda_executor|cuInit|cpu_feature_guard|absl::InitializeLog|"
    rb"rebuild TensorFlow with the appropriate compiler flags|oneDNN custom operations"
)


@contextlib.contextmanager
def _stderr_filtered() -> Iterator[None]:
    """Run the body with file descriptor 2 captured, then pass on the captured lines NOISE does not match."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if not NOISE.search(line))
            if kept:
                os.write(2, kept)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports tensorflow, the first time anything does, inside _stderr_filtered."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                with _stderr_filtered():
                    run(module)

            spec.loader.exec_module = exec_module
        return spec


if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _QuietTensorFlowImport())
