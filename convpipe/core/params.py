"""params.yaml, validated by one pydantic model per section before any stage does work."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from convpipe.core.text import shorten
from convpipe.core.urls import CREDENTIALS_ADVICE, redact_source
from convpipe.export.formats import FORMATS
from convpipe.model.architectures import ARCHITECTURES, PRETRAINED

PARAMS_FILE = Path("params.yaml")
MAX_FILE_BYTES = 2**20  # params.yaml is a few KiB; anything near this is not a params file
MAX_VALUES = 10_000  # after expanding YAML aliases: a "billion laughs" file stops here, not in memory
MAX_DEPTH = 16  # params.yaml nests four levels (gate.rules.<metric>.<bound>)

Fraction = Annotated[float, Field(gt=0, lt=1)]
LearningRate = Annotated[float, Field(gt=0, le=1)]
# Keras policy a model trains in; auto: see convpipe.model.precision.resolve
Precision = Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"]


class ParamsError(ValueError):
    """params.yaml is missing, malformed or holds a bad value; the message names the key."""


class Section(BaseModel):
    # allow_inf_nan: .inf and .nan are valid YAML floats but no sensible bound or threshold.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


SOURCE_KINDS = ("sklearn", "tfds", "dir", "url")
REVIEW_FILE = r"^data/review/[A-Za-z0-9_][A-Za-z0-9_.-]*$"  # one file directly in data/review/


class Data(Section):
    source: Annotated[str, Field(max_length=4096)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    tfds_data_dir: str | None = None
    keep_source_splits: bool = True
    max_per_class: Annotated[int, Field(gt=0, le=10**9)] | None = None
    # "auto": resolved from the images at preprocess time (convpipe.data.auto), recorded in meta.json.
    color_mode: Literal["auto", "grayscale", "rgb"] = "auto"
    image_size: (
        Literal["auto"] | Annotated[list[Annotated[int, Field(ge=8, le=1024)]], Field(min_length=2, max_length=2)]
    ) = "auto"
    val_fraction: Fraction
    test_fraction: Fraction
    max_pixels: Annotated[int, Field(gt=0, le=2**30)] = 89_478_485
    shard_size: Annotated[int, Field(gt=0, le=1_000_000)] = 2000
    max_download_bytes: Annotated[int, Field(gt=0, le=2**40)] = 20 * 2**30
    max_extract_bytes: Annotated[int, Field(gt=0, le=2**44)] = 50 * 2**30
    max_compression_ratio: Annotated[int, Field(ge=1, le=100_000)] = 100
    near_duplicate_hash: Literal["phash", "dhash"] = "phash"
    near_duplicate_distance: Literal["auto"] | Annotated[int, Field(ge=0, le=32)] = "auto"  # "auto": split resolves it
    # A file in data/review/ (split's dependency: DVC cannot depend on a path a param names), raw-relative paths.
    exclude: Annotated[str, Field(pattern=REVIEW_FILE)] | None = None
    relabel: Annotated[str, Field(pattern=REVIEW_FILE)] | None = None

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        kind, _, rest = source.partition(":")
        if kind not in SOURCE_KINDS or not rest:
            raise ValueError(f"expected one of {', '.join(k + ':…' for k in SOURCE_KINDS)}")
        if kind == "url" and rest.partition("://")[0].lower() not in ("http", "https", "file"):
            raise ValueError("a url: source must be http://, https:// or file://")
        if kind == "url" and "@" in urllib.parse.urlsplit(rest).netloc:
            # data.source is a param: DVC writes it in clear into dvc.lock and its run-cache.
            raise ValueError(CREDENTIALS_ADVICE)
        return source

    @model_validator(mode="after")
    def _train_share_left(self) -> Data:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% for training")
        return self


class Augment(Section):
    flip: Literal["auto", "none", "horizontal", "vertical", "horizontal_and_vertical"]
    rotation: Annotated[float, Field(ge=0, le=0.5)]
    zoom: Annotated[float, Field(ge=0, lt=1)]
    translation: Annotated[float, Field(ge=0, lt=1)]
    contrast: Annotated[float, Field(ge=0, le=1)]
    brightness: Annotated[float, Field(ge=0, le=1)] = 0.0


class Model(Section):
    arch: Literal[tuple(ARCHITECTURES)]  # type: ignore[valid-type]
    filters: Annotated[list[Annotated[int, Field(gt=0, le=1024)]], Field(min_length=1, max_length=6)]
    dropout: Annotated[float, Field(ge=0, lt=1)]
    weights: Annotated[str, Field(min_length=1, max_length=1000)] = "none"
    alpha: Literal[0.35, 0.5, 0.75, 1.0, 1.3, 1.4] = 1.0

    @model_validator(mode="after")
    def _weights_need_a_base(self) -> Model:
        if self.weights != "none" and self.arch not in PRETRAINED:
            raise ValueError(
                f"weights {self.weights!r} needs a pretrained arch ({', '.join(PRETRAINED)}), got arch {self.arch!r}"
            )
        return self


class Train(Section):
    # "auto" values are resolved by convpipe.model.auto from the model kind and the train split's size.
    epochs: Literal["auto"] | Annotated[int, Field(gt=0, le=1000)] = "auto"
    batch_size: Literal["auto"] | Annotated[int, Field(gt=0, le=4096)] = "auto"
    learning_rate: LearningRate
    schedule: Literal["cosine", "plateau"] = "cosine"
    warmup_epochs: Annotated[int, Field(ge=0, le=100)] = 2
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    patience: Annotated[int, Field(gt=0, le=1000)]
    reduce_lr_patience: Annotated[int, Field(gt=0, le=1000)] = 3
    reduce_lr_factor: Fraction = 0.5
    class_weight: Literal["auto", "none"] = "none"
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"
    precision: Precision = "auto"


class Finetune(Section):
    epochs: Annotated[int, Field(ge=0, le=1000)]
    learning_rate: Literal["auto"] | LearningRate = "auto"
    unfreeze: Literal["all", "auto"] | Annotated[int, Field(gt=0, le=10_000)] | Fraction = "auto"
    patience: Annotated[int, Field(gt=0, le=1000)]
    reduce_lr_patience: Annotated[int, Field(gt=0, le=1000)] = 2
    reduce_lr_factor: Fraction = 0.5
    precision: Precision = "auto"


class Evaluate(Section):
    batch_size: Annotated[int, Field(gt=0, le=4096)]
    top_k: Annotated[int, Field(ge=2, le=100)] = 3
    calibration_bins: Annotated[int, Field(ge=2, le=100)] = 10
    worst_images: Annotated[int, Field(ge=1, le=100)] = 16
    gradcam_images: Annotated[int, Field(ge=1, le=100)] = 10
    tsne_points: Annotated[int, Field(ge=10, le=5000)] = 500


class Index(Section):
    exact_max: Annotated[int, Field(gt=0, le=100_000_000)] = 50_000
    hnsw_neighbors: Annotated[int, Field(ge=4, le=256)] = 32
    ef_search: Annotated[int, Field(ge=1, le=4096)] = 128
    ef_construction: Annotated[int, Field(ge=1, le=4096)] = 200
    k: Annotated[int, Field(ge=1, le=100)] = 10
    queries_shown: Annotated[int, Field(ge=1, le=50)] = 8


class Export(Section):
    formats: Annotated[list[Literal[tuple(FORMATS)]], Field(min_length=1)]  # type: ignore[valid-type]
    representative_samples: Annotated[int, Field(gt=0, le=10_000)]
    onnx_opset: Annotated[int, Field(ge=13, le=21)]
    latency_runs: Annotated[int, Field(gt=0, le=10_000)]
    qat_epochs: Annotated[int, Field(gt=0, le=100)] = 1
    sparsity: Annotated[float, Field(gt=0, lt=1)] = 0.5
    prune_epochs: Annotated[int, Field(gt=0, le=100)] = 2
    tune_learning_rate: LearningRate = 0.0001
    tune_batch_size: Annotated[int, Field(gt=0, le=4096)] = 64
    tune_precision: Precision = "auto"


class Tracking(Section):
    experiment: Annotated[str, Field(min_length=1, max_length=200)]
    registered_model: Annotated[str, Field(min_length=1, max_length=200)] = "convpipe-classifier"
    required: bool = True


class Rule(Section):
    min: float | None = None
    max: float | None = None
    max_drop: Annotated[float, Field(ge=0)] | None = None
    max_rise: Annotated[float, Field(ge=0)] | None = None
    # Against another metric of the same reports: value >= reference - max_below,
    # and min_ratio <= value / reference <= max_ratio.
    relative_to: Annotated[str, Field(min_length=1)] | None = None
    max_below: Annotated[float, Field(ge=0)] | None = None
    min_ratio: Annotated[float, Field(ge=0)] | None = None
    max_ratio: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Rule:
        if self.model_dump(exclude_none=True, exclude={"relative_to"}) == {}:
            raise ValueError(
                "a rule needs at least one of min, max, max_drop, max_rise, max_below, min_ratio, max_ratio"
            )
        relative = [self.max_below, self.min_ratio, self.max_ratio]
        if (self.relative_to is None) != all(bound is None for bound in relative):
            raise ValueError("relative_to and max_below/min_ratio/max_ratio go together")
        return self


class Gate(Section):
    rules: dict[str, Rule]


class SearchRange(Section):
    low: int | float
    high: int | float
    log: bool = False  # sample log-uniformly: for rates and sizes spanning decades
    step: Annotated[int | float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _a_range(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("log and step do not go together")  # Optuna samples one or the other
        return self


Choice = None | bool | int | float | str | list[int | float | str]


class SearchChoices(Section):
    choices: Annotated[list[Choice], Field(min_length=1, max_length=1000)]

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list) -> list:
        if len({json.dumps(choice) for choice in choices}) < len(choices):
            raise ValueError("choices are listed twice")
        return choices


def _entry_kind(entry: object) -> str:
    """Which kind of space entry a mapping (when validating) or a model (when dumping) is."""
    return (
        "choices" if isinstance(entry, SearchChoices) or (isinstance(entry, dict) and "choices" in entry) else "range"
    )


SearchEntry = Annotated[
    Annotated[SearchRange, Tag("range")] | Annotated[SearchChoices, Tag("choices")], Discriminator(_entry_kind)
]
# Report keys an objective may name: reports/metrics.json's (test.accuracy), reports/train.json's under train.
# (train.val_accuracy) and reports/export.json's under export.
OBJECTIVE = r"^(test|val|train)\.[a-z0-9_]+$|^export\.[a-z0-9_]+\.[a-z0-9_]+$"


class Tune(Section):
    study: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]  # names the trials' DVC experiments
    storage: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    trials: Annotated[int, Field(gt=0, le=10_000)] = 12
    workers: Annotated[int, Field(gt=0, le=64)] = 2
    objectives: Annotated[
        dict[Annotated[str, Field(pattern=OBJECTIVE)], Literal["maximize", "minimize"]],
        Field(min_length=1, max_length=3),
    ]
    sampler: Literal["tpe", "random", "nsgaii"] = "tpe"
    pruner: Literal["median", "successive_halving", "none"] = "median"
    startup_trials: Annotated[int, Field(ge=1, le=1000)] = 4
    warmup_epochs: Annotated[int, Field(ge=0, le=1000)] = 3
    baseline: bool = True
    until: Annotated[str, Field(min_length=1, max_length=100)] = "auto"  # auto: the last objective's writer
    space: Annotated[dict[Annotated[str, Field(min_length=1, max_length=200)], SearchEntry], Field(min_length=1)]

    @model_validator(mode="after")
    def _pruning_needs_one_objective(self) -> Tune:
        if self.pruner != "none" and len(self.objectives) > 1:
            # Optuna's pruners compare one value per epoch; Trial.should_prune refuses multi-objective studies.
            raise ValueError(
                f"pruner {self.pruner!r} cannot prune a study with {len(self.objectives)} objectives "
                "(Optuna prunes single-objective studies only): set pruner: none"
            )
        return self


class Params(Section):
    seed: Annotated[int, Field(ge=0, lt=2**31)]
    data: Data
    augment: Augment
    model: Model
    train: Train
    finetune: Finetune
    evaluate: Evaluate
    index: Index
    export: Export
    tracking: Tracking
    gate: Gate
    tune: Tune | None = None  # read by `convpipe tune` alone, no stage

    def flat(self) -> dict[str, object]:
        """All params as dotted keys, for MLflow; a url: source without its credentials or query."""
        return {**flatten(self.model_dump(mode="json")), "data.source": redact_source(self.data.source)}

    def digest(self) -> str:
        """A short hash that changes whenever any param does."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} → {"a.b": 1}."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


UNION_PREFIXES = ("literal[", "list[", "constrained-")  # the loc parts pydantic inserts for union members
UNION_TYPES = {"int", "float", "str", "bool"}


def _location(error: dict) -> tuple:
    """The error's loc without the union members pydantic inserts ("literal['auto']", "list[...]")."""
    return tuple(
        part
        for part in error["loc"]
        if not (isinstance(part, str) and (part.startswith(UNION_PREFIXES) or part in UNION_TYPES))
    )


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in _location(error)) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: missing"
    value = error["input"]
    if error["loc"] == ("data", "source") and isinstance(value, str):
        value = redact_source(value)  # a refused source may hold a password
    shown, msg = repr(value), error["msg"]
    return f"{key}: {shorten(msg, 300)} (got {shorten(shown, 80)})"


def parse(raw: object, source: str = str(PARAMS_FILE)) -> Params:
    """Validate already-loaded YAML; raise ParamsError naming every bad key."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        # Unions report one error per member; the first per key is the one a user needs.
        seen: dict[str, str] = {}
        # An "auto"-or-number key fails both members; the number's bound is the error worth showing.
        for error in sorted(err.errors(), key=lambda e: e["type"] == "literal_error"):
            seen.setdefault(".".join(map(str, _location(error)[:2])), _describe(error))
        raise ParamsError(f"{source}: " + "; ".join(seen.values())) from None


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader (no Python tags) that also refuses a key given twice instead of keeping the last."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges; its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _depth(raw: object, limit: int) -> int:
    """How deep lists and mappings nest in the tree; stops looking past limit."""
    stack, deepest = [(raw, 0)], 0
    while stack and deepest <= limit:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _count_values(raw: object, budget: int) -> int:
    """Values in the tree as if every alias were expanded; stops counting past budget."""
    stack, count = [raw], 0
    while stack and count <= budget:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate params.yaml (safe YAML only, no duplicate keys, bounded size)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run from the project root)") from None
    if len(data) > MAX_FILE_BYTES:
        raise ParamsError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a params file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text (byte {err.start}: {data[err.start : err.start + 1]!r})") from None
    try:
        loader = _StrictLoader(text)
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ParamsError(f"{path}: nested too deeply") from None
    if raw is None:
        raise ParamsError(f"{path}: empty; expected a mapping of sections")
    if _count_values(raw, MAX_VALUES) > MAX_VALUES:
        raise ParamsError(f"{path}: more than {MAX_VALUES} values once anchors and aliases are expanded")
    # Explicit, since whether the parser first hits Python's recursion limit depends on the caller's stack.
    if _depth(raw, MAX_DEPTH) > MAX_DEPTH:
        raise ParamsError(f"{path}: nested too deeply (more than {MAX_DEPTH} levels)")
    return parse(raw, str(path))
