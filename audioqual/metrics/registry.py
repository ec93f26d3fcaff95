"""Registry of the project's metrics by name, each classified by what it compares, imported lazily.

Each entry names its class by import path and its `MetricCategory`
(independent, needs a reference, non-matching reference, distributional; as
VERSA's metric definitions), so listing the registry imports nothing heavy,
and a metric whose optional dependency is missing fails only when it is used,
with a message naming the pip package to install. Pair metrics (every
category but distributional) are built by `create`; a distributional metric
compares sets and has its own command. `create("package.module:Class")` also
builds any PairMetric subclass by import path, for metrics outside the registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from typing import Any

from audioqual.errors import AudioqualError
from audioqual.metrics.base import MetricCategory, MetricInfo, PairMetric


class MetricUnavailableError(AudioqualError):
    """A metric cannot be built here: its dependency or implementation is missing."""


@dataclass(frozen=True)
class MetricSpec:
    """How to build one registered metric."""

    name: str
    target: str  # "package.module:ClassName"
    summary: str
    pip_package: str | None = None  # what `pip install` brings its optional dependency
    kwargs: dict[str, Any] = field(default_factory=dict)
    requires_module: str | None = None  # listed only when this module is importable
    category: MetricCategory = MetricCategory.REFERENCE
    command: str = "audioqual metric"  # what runs it (distributional metrics have their own command)

    @property
    def requires_reference(self) -> bool:
        """False for an independent metric: rows without a reference get it."""
        return self.category.requires_reference


_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("visqol", "audioqual.baselines.visqol:ViSQOLMetric",
               "ViSQOL v3 audio mode (MOS-LQO 1-5, 48 kHz, SVR model)", "visqol-python", {"mode": "audio"}),
    MetricSpec("visqol-speech", "audioqual.baselines.visqol:ViSQOLMetric",
               "ViSQOL v3 speech mode (MOS-LQO 1-5, 16 kHz)", "visqol-python", {"mode": "speech"}),
    MetricSpec("peaq", "audioqual.baselines.peaq_metric:PeaqMetric",
               "PEAQ Basic (ITU-R BS.1387) objective difference grade, -4..0 at 48 kHz"),
    MetricSpec("twof", "audioqual.baselines.peaq_metric:TwoFModelMetric",
               "2f-model (Kastner & Herre 2019) MMS 0-100 from PEAQ Basic MOVs at 48 kHz"),
    MetricSpec("haaqi", "audioqual.baselines.haaqi:HAAQIMetric",
               "HAAQI v1, normal hearing (0-1, 24 kHz, 65 dB SPL reference)", "pyclarity"),
    MetricSpec("cdpam", "audioqual.baselines.cdpam:CDPAMMetric",
               "CDPAM perceptual distance (lower is better, 22.05 kHz)", "cdpam", requires_module="cdpam"),
    MetricSpec("embedding-distance", "audioqual.metrics.embedding:EmbeddingDistanceMetric",
               "raw per-layer reference-test distance in a backbone (default musicnn; lower is better)"),
    MetricSpec("default", "audioqual.metrics.default_model:DefaultModelMetric",
               "the default full-reference model of `audioqual compare` (its mapped score; docs/model_card_default_fr.md)"),
    MetricSpec("dnsmos", "audioqual.baselines.dnsmos:DNSMOSMetric",
               "DNSMOS P.835 OVRL of the test signal (1-5, 16 kHz, no reference used)", "speechmos",
               requires_module="speechmos", category=MetricCategory.INDEPENDENT),
    MetricSpec("default-nr", "audioqual.metrics.default_nr:DefaultNRMetric",
               "the default no-reference model of `audioqual score` (overall 1-5; docs/model_card_default_nr.md)",
               category=MetricCategory.INDEPENDENT),
    MetricSpec("distillmos", "audioqual.baselines.distillmos:DistillMOSMetric",
               "DistillMOS speech MOS of the test signal (1-5, 16 kHz, no reference used; the wheel's network, ported)",
               "distillmos", category=MetricCategory.INDEPENDENT),
    MetricSpec("fad", "audioqual.baselines.fad:FrechetAudioDistance",
               "Fréchet Audio Distance of a test set from a reference set on any project backbone (lower is better)",
               category=MetricCategory.DISTRIBUTIONAL, command="audioqual fad"),
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def registered() -> dict[str, MetricSpec]:
    """Registered metrics, optional ones only when their package is installed."""
    return {s.name: s for s in _SPECS if s.requires_module is None or _installed(s.requires_module)}


def _spec(name: str) -> MetricSpec:
    """The registered metric `name`, or a spec for a `module:Class` path (a pair metric outside the registry)."""
    if ":" in name:
        return MetricSpec(name, name, "")
    specs = registered()
    if name not in specs:
        pair_metrics = [n for n, spec in specs.items() if spec.category is not MetricCategory.DISTRIBUTIONAL]
        raise MetricUnavailableError(f"unknown metric {name!r}; available: {', '.join(pair_metrics)}")
    return specs[name]


def _import_target(spec: MetricSpec) -> Any:
    """The object at `spec.target`; a missing module becomes a message naming what to install."""
    name, target, pip_package = spec.name, spec.target, spec.pip_package
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise MetricUnavailableError(
                f"metric {name!r}: its implementation {module_name} is not available in this version"
            ) from err
        hint = f"pip install {pip_package}" if pip_package else f"install the package providing {missing!r}"
        raise MetricUnavailableError(f"metric {name!r} needs the Python module {missing!r}: {hint}") from err
    return getattr(module, class_name, None)


def metric_class(name: str) -> tuple[type[PairMetric], dict[str, Any]]:
    """The PairMetric class of a registered name (or `module:Class` path) and its constructor kwargs."""
    spec = _spec(name)
    if spec.category is MetricCategory.DISTRIBUTIONAL:
        raise MetricUnavailableError(
            f"metric {name!r} compares a set of test files with a set of references, not pairs: run `{spec.command}`"
        )
    cls = _import_target(spec)
    if not (isinstance(cls, type) and issubclass(cls, PairMetric)):
        raise MetricUnavailableError(f"metric {name!r}: {spec.target} is not a PairMetric class")
    return cls, dict(spec.kwargs)


def create(name: str, **overrides: Any) -> PairMetric:
    """A ready metric object; keyword overrides go to its constructor."""
    cls, kwargs = metric_class(name)
    kwargs.update(overrides)
    try:
        return cls(**kwargs)
    except TypeError as err:  # an option the constructor does not take: name it and what it does take
        accepted = ", ".join(p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs"))
        raise MetricUnavailableError(f"metric {name!r}: {err} (its options: {accepted or 'none'})") from err


def describe(name: str) -> tuple[MetricInfo | None, str]:
    """(MetricInfo when the metric can be built, else None; status text) for `metric --list`."""
    try:
        spec = _spec(name)
        if spec.category is MetricCategory.DISTRIBUTIONAL:  # not a PairMetric: its class states its info
            return _class_info(spec), "available"
        cls, kwargs = metric_class(name)
    except MetricUnavailableError as err:
        return None, f"unavailable: {err}"
    info = None if kwargs else getattr(cls, "info", None)  # options such as a mode may change the info
    if not isinstance(info, MetricInfo):
        try:
            info = cls(**kwargs).info
        except Exception as err:  # noqa: BLE001 - a listing reports any construction failure and goes on
            return None, f"unavailable: {type(err).__name__}: {err}"
    return info, "available"


def _class_info(spec: MetricSpec) -> MetricInfo:
    info = getattr(_import_target(spec), "info", None)
    if not isinstance(info, MetricInfo):
        raise MetricUnavailableError(f"metric {spec.name!r}: {spec.target} states no MetricInfo")
    return info
