"""Plugins: user features and strategies in plain Python files, and DSL strategy specs, loaded without
stopping anything else.

A Python plugin registers features with ``@blofin_stack.features.feature(...)`` and defines strategies
as subclasses of :class:`blofin_stack.strategies.Strategy`; a ``.json``/``.yaml`` file is a strategy in
the rule DSL (:mod:`blofin_stack.strategies.dsl`). Both become available to every command exactly
like built-ins. Files come from ``--plugin FILE``, every ``*.py`` in ``PLUGINS_DIR`` and every spec in
``DATA_DIR/strategies`` (where ``blofin strategies add`` puts them).

A plugin is all or nothing: if its code raises (or a registration is refused, e.g. a name clash),
everything it registered is rolled back and the error names the file and the line; the other
plugins and the command go on. Loading the same unchanged file again is a no-op; a changed file is
reloaded in place.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from blofin_stack.features.registry import REGISTRY, FeatureRegistry
from blofin_stack.strategies.base import Strategy
from blofin_stack.strategies.catalog import register_strategy, strategy_classes, unregister_strategy
from blofin_stack.strategies.dsl import DslError, DslStrategy, load_strategy_spec


@dataclass(frozen=True)
class PluginError:
    """Why a plugin file was not loaded: the file, the line (0 when unknown) and the message."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"plugin {self.path}:{self.line}: {self.message}"


@dataclass
class PluginReport:
    """What :func:`load_plugins` did: files loaded, errors, and the names each file registered."""

    loaded: list[Path] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)
    features: dict[str, list[str]] = field(default_factory=dict)
    strategies: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Loaded:
    digest: str
    features: list[str]
    strategies: list[str]


_loaded: dict[Path, _Loaded] = {}


DSL_SUFFIXES = (".json", ".yaml", ".yml")


def _files(folder: Path | None, suffixes: tuple[str, ...]) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in suffixes)


def plugin_paths(
    plugins_dir: Path | None, extra: Sequence[Path] = (), strategies_dir: Path | None = None
) -> list[Path]:
    """``*.py`` of ``plugins_dir``, DSL specs of ``strategies_dir`` (sorted; folders may be absent), then
    ``extra`` files."""
    found = [*_files(plugins_dir, (".py",)), *_files(strategies_dir, DSL_SUFFIXES)]
    return list(dict.fromkeys(p.resolve() for p in [*found, *map(Path, extra)]))


def error_line(exc: BaseException, path: Path) -> int:
    """The line of ``path`` where ``exc`` arose (the innermost frame in that file), 0 when none."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path:
        return exc.lineno or 0
    if isinstance(exc, DslError):
        return exc.line or 0
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    return (frames[-1].lineno or 0) if frames else 0


def describe_exception(exc: BaseException) -> str:
    """``Type: message (file:line)`` with the innermost frame of the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _unload(path: Path, registry: FeatureRegistry) -> None:
    previous = _loaded.pop(path, None)
    if previous is None:
        return
    specs, families = registry.snapshot()
    for name in previous.features:
        specs.pop(name, None)
        families.pop(name, None)
    registry.restore((specs, families))
    for name in previous.strategies:
        unregister_strategy(name)


def _strategies_of(module: ModuleType) -> list[type[Strategy]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]


def _load_spec(path: Path, digest: str) -> _Loaded:
    cls = DslStrategy.class_from_spec(load_strategy_spec(path), path)
    before = set(strategy_classes())
    register_strategy(cls)
    return _Loaded(digest, [], sorted(set(strategy_classes()) - before) or [cls.name])


def _load_one(path: Path, registry: FeatureRegistry) -> _Loaded:
    digest = hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
    previous = _loaded.get(path)
    if previous is not None and previous.digest == digest:
        return previous
    _unload(path, registry)
    if path.suffix in DSL_SUFFIXES:
        _loaded[path] = _load_spec(path, digest)
        return _loaded[path]
    before = registry.snapshot()
    before_strategies = set(strategy_classes())
    module_name = f"blofin_plugin_{path.stem}_{hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        for cls in _strategies_of(module):
            register_strategy(cls)
    except BaseException:
        sys.modules.pop(module_name, None)
        registry.restore(before)
        for name in set(strategy_classes()) - before_strategies:
            unregister_strategy(name)
        raise
    specs, families = registry.snapshot()
    added = [n for n in specs if n not in before[0]] + [p for p in families if p not in before[1]]
    loaded = _Loaded(digest, added, sorted(set(strategy_classes()) - before_strategies))
    _loaded[path] = loaded
    return loaded


def load_plugins(paths: Iterable[Path], registry: FeatureRegistry = REGISTRY) -> PluginReport:
    """Load plugin files; a failing file is rolled back and reported, the others still load. What a file
    loaded earlier in this process registered is dropped once that file no longer exists.

    Returns:
        :class:`PluginReport` with the loaded files, the features and strategies each registered, and
        one :class:`PluginError` (file, line, message) per failed file.
    """
    report = PluginReport()
    for gone in [p for p in _loaded if not p.is_file()]:
        _unload(gone, registry)
    for raw in paths:
        path = Path(raw).resolve()
        try:
            if not path.is_file():
                raise FileNotFoundError(f"no such plugin file: {path}")
            loaded = _load_one(path, registry)
        except Exception as exc:  # a plugin may raise anything; it must not stop the rest
            report.errors.append(PluginError(path, error_line(exc, path), f"{type(exc).__name__}: {exc}"))
            continue
        report.loaded.append(path)
        report.features[str(path)] = loaded.features
        report.strategies[str(path)] = loaded.strategies
    return report
