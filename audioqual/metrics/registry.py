"""Registry of reference/test metrics: name -> PairMetric factory, imported lazily.

Each entry names its class by import path, so listing the registry imports
nothing heavy, and a metric whose optional dependency is missing fails only
when it is used, with a message naming the pip package to install.
`create("package.module:Class")` also builds any PairMetric subclass by
import path, for metrics outside the registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from typing import Any

from audioqual.errors import AudioqualError
from audioqual.metrics.base import MetricInfo, PairMetric


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
               requires_module="speechmos"),
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def registered() -> dict[str, MetricSpec]:
    """Registered metrics, optional ones only when their package is installed."""
    return {s.name: s for s in _SPECS if s.requires_module is None or _installed(s.requires_module)}


def _resolve(name: str) -> tuple[str, str | None, dict[str, Any]]:
    if ":" in name:
        return name, None, {}
    specs = registered()
    if name not in specs:
        raise MetricUnavailableError(f"unknown metric {name!r}; available: {', '.join(specs)}")
    spec = specs[name]
    return spec.target, spec.pip_package, dict(spec.kwargs)


def metric_class(name: str) -> tuple[type[PairMetric], dict[str, Any]]:
    """The PairMetric class of a registered name (or `module:Class` path) and its constructor kwargs."""
    target, pip_package, kwargs = _resolve(name)
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
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, PairMetric)):
        raise MetricUnavailableError(f"metric {name!r}: {target} is not a PairMetric class")
    return cls, kwargs


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
