"""One module per DVC stage, each run as `python -m stages.<name>`."""
import convpipe  # noqa: F401  (selects Keras 2 before any stage imports TensorFlow)
