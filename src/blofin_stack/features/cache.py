"""The feature cache: computed feature columns in memory (LRU) and on disk, keyed so it cannot go stale.

A cached column is found by ``(inst_id, timeframe, feature)`` and is valid only for the same

* **data fingerprint**: a hash of the bars it was computed on (open times and OHLCV). New, changed or
  more bars give another fingerprint, so a column is never reused for data it was not computed on;
* **definition fingerprint**: a hash of the source file that defines the feature (through family and
  higher-timeframe wrappers) and of the feature engine's own files. Editing a feature's code, a
  plugin's code included, invalidates its columns.

The memory tier keeps ``max_entries`` columns (least recently used first out). The disk tier keeps the
newest column of each ``(inst_id, timeframe, feature)`` as one ``.npz`` file (no pickle), written
atomically, so many processes (the pipeline's workers) share it safely.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from blofin_stack.features.registry import FeatureSpec

_HERE = Path(__file__).resolve().parent
#: Files whose code shapes every feature value: the registry, the higher-timeframe join, aggregation.
_ENGINE_FILES = (_HERE / "registry.py", _HERE / "mtf.py", _HERE.parent / "market" / "candles.py")


def bars_fingerprint(ohlcv: pd.DataFrame) -> str:
    """Hash (24 hex digits) of the bars' open times and every column (OHLCV, funding rates...):
    equal only for equal data."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(np.ascontiguousarray(ohlcv.index.to_numpy(dtype="int64")).tobytes())
    for column in sorted(ohlcv.columns):
        digest.update(column.encode())
        digest.update(np.ascontiguousarray(ohlcv[column].to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


@cache
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=8).hexdigest()


def _digest_of(path: Path) -> str:
    stat = path.stat()
    return _file_digest(str(path), stat.st_mtime_ns, stat.st_size)


def definition_fingerprint(spec: FeatureSpec) -> str:
    """Hash of what defines ``spec``: its source file, the feature engine's files, and its description,
    source and ``available_from`` (a model feature's code is shared; its model and window are not)."""
    func = inspect.unwrap(spec.func)
    source = inspect.getsourcefile(func)
    parts = [_digest_of(p) for p in _ENGINE_FILES]
    parts.append(_digest_of(Path(source)) if source else func.__qualname__)
    identity = [spec.name, str(spec.warmup_bars), spec.description, spec.source, str(spec.available_from)]
    return hashlib.blake2b("|".join([*identity, *parts]).encode(), digest_size=8).hexdigest()


@dataclass
class CacheStats:
    """Counts since the cache was created."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


class FeatureCache:
    """Memory LRU plus optional disk tier for computed feature columns (float64 arrays)."""

    def __init__(self, directory: Path | None = None, max_entries: int = 1000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._memory: OrderedDict[tuple[str, str, str, str], np.ndarray] = OrderedDict()

    def _path(self, inst_id: str, timeframe: str, feature: str) -> Path:
        assert self.directory is not None
        return self.directory / inst_id / timeframe / f"{feature.replace(':', '@')}.npz"

    def get(self, inst_id: str, timeframe: str, spec: FeatureSpec, data_fp: str) -> np.ndarray | None:
        """The cached column, or ``None`` when absent or computed from other data or code."""
        version = f"{data_fp}-{definition_fingerprint(spec)}"
        key = (inst_id, timeframe, spec.name, version)
        values = self._memory.get(key)
        if values is not None:
            self._memory.move_to_end(key)
            self.stats.memory_hits += 1
            return values
        if self.directory is not None:
            path = self._path(inst_id, timeframe, spec.name)
            try:
                with np.load(path, allow_pickle=False) as stored:
                    if str(stored["version"]) == version:
                        values = stored["values"]
            except (OSError, KeyError, ValueError):
                values = None
            if values is not None:
                self._remember(key, values)
                self.stats.disk_hits += 1
                return values
        self.stats.misses += 1
        return None

    def put(self, inst_id: str, timeframe: str, spec: FeatureSpec, data_fp: str, values: np.ndarray) -> None:
        """Store a computed column in memory and, when a directory is set, on disk."""
        version = f"{data_fp}-{definition_fingerprint(spec)}"
        values = np.asarray(values, dtype="float64")
        values.flags.writeable = False
        self._remember((inst_id, timeframe, spec.name, version), values)
        if self.directory is not None:
            path = self._path(inst_id, timeframe, spec.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{secrets.token_hex(4)}.tmp.npz")
            np.savez(tmp, values=values, version=np.array(version))
            os.replace(tmp, path)

    def _remember(self, key: tuple[str, str, str, str], values: np.ndarray) -> None:
        self._memory[key] = values
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)
