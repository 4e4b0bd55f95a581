"""Mixed precision: what `auto` means on this machine, the Keras policy, and float32 copies for export.

Under mixed_bfloat16 or mixed_float16 the layers compute in 16 bits and keep float32 weights; the
softmax layer ("probabilities") is built float32 (Keras' rule: a 16-bit softmax loses small
probabilities). Conversion (TFLite, ONNX, SavedModel) and TFMOT expect float32 graphs, so export
works from float32_copy(model): the same architecture built under the float32 policy, same weights.
"""

from __future__ import annotations

from pathlib import Path

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
SOFTMAX = "probabilities"  # the model contract's last layer, float32 in every policy
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bfloat16 matrix units


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of /proc/cpuinfo text (the first processor's; they are all alike)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> str:
    """/proc/cpuinfo's text, or "" where there is none (not Linux)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def resolve(precision: str, cpuinfo: str | None = None, gpus: int | None = None) -> str:
    """The policy `precision` stands for: itself, or for auto mixed_bfloat16 where the CPU has bf16
    matrix units (AMX, AVX-512 BF16), mixed_float16 where a GPU is visible, float32 otherwise."""
    if precision != "auto":
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
        return precision
    if cpuinfo is None:
        cpuinfo = read_cpuinfo()
    if cpu_flags(cpuinfo) & set(BF16_FLAGS):
        return "mixed_bfloat16"
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    return "mixed_float16" if gpus else "float32"


def use(policy: str) -> None:
    """Make `policy` the Keras global policy: models built from here on compute in it."""
    import tensorflow as tf

    tf.keras.mixed_precision.set_global_policy(policy)


def with_policy(config: object, policy: str) -> object:
    """A model config with every layer's dtype policy replaced by `policy` (nested bases too)."""
    if isinstance(config, list):
        return [with_policy(item, policy) for item in config]
    if not isinstance(config, dict):
        return config
    out = {key: with_policy(value, policy) for key, value in config.items()}
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") in ("Policy", "DTypePolicy"):
        out["dtype"] = policy
    elif isinstance(dtype, str) and dtype.startswith("mixed_"):
        out["dtype"] = policy
    if config.get("name") == SOFTMAX and "dtype" in config:
        out["dtype"] = "float32"
    return out


def in_policy(model, policy: str):
    """`model` rebuilt with every layer (but the float32 softmax) in `policy`, same weights; `model`
    itself when it already is."""
    import tensorflow as tf

    wanted = {layer.name: "float32" if layer.name == SOFTMAX else policy for layer in _all_layers(model)}
    if all(layer.dtype_policy.name == wanted[layer.name] for layer in _all_layers(model)):
        return model
    copy = tf.keras.Model.from_config(with_policy(model.get_config(), policy))
    copy.set_weights(model.get_weights())
    return copy


def float32_copy(model):
    """`model` rebuilt under the float32 policy with the same weights; `model` itself when already float32."""
    return in_policy(model, "float32")


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
