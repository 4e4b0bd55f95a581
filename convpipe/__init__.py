"""convpipe: a reproducible image-classification pipeline over DVC, TensorFlow and MLflow."""

import os
import sys
import time


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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
