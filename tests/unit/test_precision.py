"""Mixed precision: what auto resolves to, float32 softmax, the screening loader, and float32 copies."""

import numpy as np
import pytest

import convpipe  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from convpipe.core.params import Model
from convpipe.model import precision

AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile avx512_bf16\nbogomips\t: 4000\n"
AVX512_BF16 = "flags\t\t: fpu avx2 avx512f avx512_bf16\n"
EPYC = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


@pytest.mark.parametrize(
    ("cpuinfo", "gpus", "expected"),
    [
        (AMX, 0, "mixed_bfloat16"),
        (AVX512_BF16, 1, "mixed_bfloat16"),  # the CPU's bf16 units win: that is where the work runs
        (EPYC, 1, "mixed_float16"),
        (EPYC, 0, "float32"),
        ("", 0, "float32"),
    ],
)
def test_auto_resolves_from_cpu_flags_and_gpus(cpuinfo, gpus, expected):
    assert precision.resolve("auto", cpuinfo, gpus) == expected


def test_an_explicit_precision_is_kept_and_flags_are_whole_words():
    assert precision.resolve("float32", AMX, 0) == "float32"
    assert precision.resolve("mixed_bfloat16", EPYC, 0) == "mixed_bfloat16"
    assert precision.cpu_flags("flags : amx_bf16x avx2\n") == {"amx_bf16x", "avx2"}
    assert precision.resolve("auto", "flags : amx_bf16x avx2\n", 0) == "float32"
    with pytest.raises(ValueError, match="precision"):
        precision.resolve("bfloat16", EPYC, 0)


def test_precision_params_default_to_auto():
    from convpipe.core.params import Export, Finetune, Train

    assert Train(epochs=1, batch_size=8, learning_rate=0.1, patience=1).precision == "auto"
    assert Finetune(epochs=1, learning_rate=0.1, unfreeze="all", patience=1).precision == "auto"
    assert Export.model_fields["tune_precision"].default == "auto"
    with pytest.raises(ValueError, match="precision"):
        Train(epochs=1, batch_size=8, learning_rate=0.1, patience=1, precision="bf16")


@pytest.fixture
def bf16_policy():
    precision.use("mixed_bfloat16")
    yield
    precision.use("float32")


@pytest.mark.parametrize("arch", ["small_convnet", "mobilenet_v2"])
def test_bf16_model_keeps_a_float32_softmax_loads_through_the_screen_and_copies_to_float32(tmp_path, arch, bf16_policy):
    from convpipe.model.builders import build_model
    from convpipe.model.saved import load_model

    model = build_model(Model(arch=arch, filters=[4, 8], dropout=0.1, alpha=0.35), (32, 32, 3), 3)
    assert model.get_layer("probabilities").dtype_policy.name == "float32"
    assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "model.keras")
    precision.use("float32")
    loaded = load_model(tmp_path / "model.keras")  # the screen passes a mixed-precision policy's config
    copy = precision.float32_copy(loaded)
    assert {layer.dtype_policy.name for layer in precision._all_layers(copy)} == {"float32"}
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(copy.predict(images, verbose=0), loaded.predict(images, verbose=0), atol=0.02)
    assert precision.float32_copy(copy) is copy


@pytest.mark.slow
def test_a_bf16_trained_model_exports_with_parity(tmp_path, bf16_policy):
    from convpipe.export import convert
    from convpipe.export.measure import measure
    from convpipe.model.builders import build_model
    from convpipe.model.saved import load_model
    from convpipe.model.training import compile_model
    from tests.fit_worker import stripes

    images, labels = stripes(64, 1)
    model = build_model(Model(arch="small_convnet", filters=[4, 8], dropout=0.1), (16, 16, 1), 2)
    compile_model(model, 0.01)
    model.fit(images, labels, epochs=3, batch_size=16, verbose=0)
    model.save(tmp_path / "model.keras")
    precision.use("float32")  # export runs under the default policy
    source = precision.float32_copy(load_model(tmp_path / "model.keras"))
    test_images, test_labels = stripes(32, 2)
    reference = source.predict(test_images, verbose=0)
    assert (reference.argmax(1) == test_labels).mean() > 0.9  # it learned, in bfloat16
    (tmp_path / "export").mkdir()
    accuracy = (reference.argmax(1) == test_labels).mean()
    for kind in ("savedmodel", "tflite_float32", "onnx", "tflite_int8"):
        path = convert.build(source, kind, tmp_path / "export", test_images, 17)
        row = measure(path, test_images, test_labels, reference, runs=2)
        if kind == "tflite_int8":  # the gate's rule: int8 within a point of Keras
            assert row["accuracy"] >= accuracy - 0.01, row
        else:
            assert row["agreement"] == 1.0 and row["max_abs_diff"] < 1e-4, (kind, row)
