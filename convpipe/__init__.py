"""convpipe: a reproducible image-classification pipeline over DVC, TensorFlow and MLflow."""
import os
import sys
import time

# Stages import convpipe first: their start-up cost (imports, tracking set-up) is measured from here.
STARTED = time.perf_counter()

# TFMOT (quantization-aware training, pruning) works only with Keras 2, so every model is built
# with tf.keras resolved to tf_keras; this must be set before TensorFlow is first imported.
if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError("convpipe must be imported before tensorflow (it selects Keras 2 via TF_USE_LEGACY_KERAS=1)")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
