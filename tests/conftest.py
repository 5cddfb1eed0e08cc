"""Shared fixtures: the real data set (skipped with a reason when absent) and isolated settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from blofin_stack.config import Settings, get_settings
from blofin_stack.db.engine import dispose_engines

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``SHARED_DATA_DIR`` if set, else ``../shared/data`` next to the repository."""
    configured = os.environ.get("SHARED_DATA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder of the real 1m candle files (``INST.csv.gz``); skips the test when it is absent."""
    folder = shared_data_root() / "binance-usdm-1m"
    if not folder.is_dir():
        pytest.skip(f"real market data not found at {folder} (set SHARED_DATA_DIR)")
    return folder


@pytest.fixture(scope="session")
def btc_1m(real_data_dir: Path) -> pd.DataFrame:
    """30 days of real BTC-USDT 1m candles in the house OHLCV layout (int64 ``ts`` index)."""
    return pd.read_csv(real_data_dir / "BTC-USDT.csv.gz").set_index("ts")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing every path at a fresh temporary ``DATA_DIR`` (env vars, like a user would)."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHARED_DATA_DIR", str(shared_data_root()))
    for name in ("DATABASE_URL", "ML_MODELS_PATH", "BACKTEST_TIMEFRAMES", "BACKTEST_LOOKBACK_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
    dispose_engines()


@pytest.fixture
def isolated_plugins() -> Iterator[None]:
    """Plugins register into process-wide registries: put them back as they were after the test."""
    from blofin_stack.features import REGISTRY
    from blofin_stack.strategies import catalog, plugins

    features = REGISTRY.snapshot()
    strategies = dict(catalog._PLUGIN_STRATEGIES)
    loaded = dict(plugins._loaded)
    yield
    REGISTRY.restore(features)
    catalog._PLUGIN_STRATEGIES.clear()
    catalog._PLUGIN_STRATEGIES.update(strategies)
    plugins._loaded.clear()
    plugins._loaded.update(loaded)


@pytest.fixture(autouse=True)
def no_deployed_models() -> Iterator[None]:
    """Models deployed into trading (model features, position models) are process-wide: retire them after
    each test, so that no test sees another's models."""
    yield
    from blofin_stack.ml import deploy
    from blofin_stack.ml.serving import POSITION_MODELS

    for name in list(deploy._DEPLOYED):
        deploy._retire(name)
    POSITION_MODELS.clear()


@pytest.fixture
def cycle_size() -> Callable[[Settings, int], int]:
    """Backtests one strategy cycle runs: each runnable strategy on BACKTEST_TIMEFRAMES plus its own."""
    from blofin_stack.strategies import all_strategies

    def size(settings: Settings, instruments: int) -> int:
        runnable = [s for s in all_strategies() if s.unavailable_reason() is None]
        return instruments * sum(len(s.cycle_timeframes(settings.backtest_timeframes)) for s in runnable)

    return size
