"""The architectures: one table that params validation, the builders and TFMOT all read.

No TensorFlow here, so params can be validated without loading it; the builders are in builders.py.

The contract every model honours (tests/unit/test_architectures.py checks it for every row):
- it takes raw pixels, float32 0-255, of shape (height, width, channels): rescaling and a pretrained
  base's own preprocessing are layers inside the model, so exported artifacts need none either;
- its last layer is a top-level Dense named "probabilities" with a softmax, whose input is the
  embedding the index stage searches;
- some layer (in a nested base, too) has a 4-D output: the feature map Grad-CAM explains;
- it holds no Lambda layer and calls no TensorFlow function outside saved.PURE_OPS (the one loader,
  model/saved.py, refuses anything else), so loading it runs no code and reads no file;
- `quantizable` says whether TFMOT's quantization-aware training and pruning can wrap it (they cannot
  wrap a nested model such as a keras.applications base); the export stage skips those formats otherwise.

Adding an architecture: add a row below and, unless it is a keras.applications base (builder
"pretrained"), its builder function in builders.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """One value of params' model.arch."""

    name: str
    builder: str  # function in builders.py that builds it
    pretrained: bool = False  # a keras.applications base: model.weights applies, finetune unfreezes its top
    application: str | None = None  # pretrained only: the tf.keras.applications constructor
    # pretrained only: the keras.applications module whose preprocess_input the base expects, or "caffe"
    # (RGB → BGR minus ImageNet means, built from saveable layers since Keras' own version is not)
    preprocessing: str | None = None
    min_side: int = 8  # smallest data.image_size side it accepts
    width_multiplier: bool = False  # takes model.alpha
    quantizable: bool = True  # TFMOT can wrap it (QAT and pruning export formats)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        # Conv2D (no bias) → BatchNormalization → ReLU is a pattern TFMOT's 8-bit scheme folds, so it stays quantizable.
        Architecture("convnet_bn", "convnet_bn"),
        Architecture("small_convnet", "small_convnet"),
        # tfmot.quantization_aware refuses their standalone BatchNormalization layers (not in TFMOT's 8-bit registry).
        Architecture("mini_xception", "mini_xception", quantizable=False),
        Architecture("resnet34", "resnet34", quantizable=False),
        Architecture(
            "mobilenet", "pretrained", True, "MobileNet", "mobilenet", 32, width_multiplier=True, quantizable=False
        ),
        Architecture(
            "mobilenet_v2",
            "pretrained",
            True,
            "MobileNetV2",
            "mobilenet_v2",
            32,
            width_multiplier=True,
            quantizable=False,
        ),
        Architecture("efficientnet_b0", "pretrained", True, "EfficientNetB0", "efficientnet", 32, quantizable=False),
        Architecture("xception", "pretrained", True, "Xception", "xception", 71, quantizable=False),
        Architecture("resnet50", "pretrained", True, "ResNet50", "caffe", 32, quantizable=False),
    )
}
PRETRAINED = tuple(name for name, arch in ARCHITECTURES.items() if arch.pretrained)
