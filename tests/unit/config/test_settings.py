"""``Settings``: defaults, environment overrides, ``.env``, timeframe aliases, and ``.env.example``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from blofin_stack.config import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
ENV_EXAMPLE = REPO_ROOT / ".env.example"


def example_variables() -> dict[str, str]:
    """``NAME=value`` assignments of ``.env.example`` (comments and blank lines skipped)."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory (no ``.env``) and none of the settings' variables set."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_defaults(clean_env: Path) -> None:
    s = Settings()
    assert s.data_dir == Path("data")
    assert s.database_url == "sqlite:///data/blofin.db"
    assert s.ml_models_path == Path("data/models")
    assert s.market_dir == Path("data/market")
    assert s.reports_dir == Path("data/reports")
    assert s.backtest_lookback_days == 7
    assert s.backtest_timeframes == ["1m", "5m", "1H"]
    assert s.backtest_fee_bps == 6.0
    assert s.ranker_top_n == 20
    assert s.ranker_replace_fraction == 0.2
    assert s.api_port > 0 and s.api_host
    assert s.blofin_ws_url.startswith("wss://")


def test_paths_follow_data_dir(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/srv/blofin")
    s = Settings()
    assert s.data_dir == Path("/srv/blofin")
    assert s.database_url == "sqlite:////srv/blofin/blofin.db"
    assert s.ml_models_path == Path("/srv/blofin/models")
    assert s.market_dir == Path("/srv/blofin/market")
    assert s.reports_dir == Path("/srv/blofin/reports")


def test_environment_overrides(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/srv/blofin")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db/blofin")
    monkeypatch.setenv("ML_MODELS_PATH", "/models")
    monkeypatch.setenv("BACKTEST_LOOKBACK_DAYS", "3")
    monkeypatch.setenv("BACKTEST_FEE_BPS", "2.5")
    monkeypatch.setenv("API_HOST", "0.0.0.0")
    monkeypatch.setenv("API_PORT", "9001")
    monkeypatch.setenv("BLOFIN_WS_URL", "ws://localhost:1234/ws")
    monkeypatch.setenv("PIPELINE_WORKERS", "2")
    s = Settings()
    assert s.database_url == "postgresql+psycopg://u:p@db/blofin"  # an explicit URL is not replaced
    assert s.ml_models_path == Path("/models")
    assert s.backtest_lookback_days == 3
    assert s.backtest_fee_bps == 2.5
    assert (s.api_host, s.api_port) == ("0.0.0.0", 9001)
    assert s.blofin_ws_url == "ws://localhost:1234/ws"
    assert s.pipeline_workers == 2


def test_timeframe_alias_60m_is_1h(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKTEST_TIMEFRAMES", "1m,5m,60m")
    assert Settings().backtest_timeframes == ["1m", "5m", "1H"]


def test_timeframes_are_trimmed_and_deduplicated(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKTEST_TIMEFRAMES", " 5m , 1H,60m,")
    assert Settings().backtest_timeframes == ["5m", "1H"]


def test_unknown_timeframe_is_a_validation_error_naming_it(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKTEST_TIMEFRAMES", "1m,7m,1H")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "7m" in str(info.value)
    assert "backtest_timeframes" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("BACKTEST_LOOKBACK_DAYS", "0"), ("API_PORT", "70000"), ("RANKER_REPLACE_FRACTION", "1.5"), ("API_PORT", "x")],
)
def test_out_of_range_values_are_rejected(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_dot_env_in_cwd_is_read_and_env_vars_win(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("API_PORT=9123\nBACKTEST_TIMEFRAMES=15m,60m\nDATA_DIR=/from/dotenv\n")
    s = Settings()
    assert s.api_port == 9123
    assert s.backtest_timeframes == ["15m", "1H"]
    assert s.database_url == "sqlite:////from/dotenv/blofin.db"
    monkeypatch.setenv("API_PORT", "9124")
    assert Settings().api_port == 9124


def test_get_settings_is_cached_until_cleared(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    assert get_settings() is first
    monkeypatch.setenv("API_PORT", "9555")
    assert get_settings().api_port == first.api_port
    get_settings.cache_clear()
    assert get_settings().api_port == 9555


def test_every_variable_of_env_example_is_a_settings_field() -> None:
    variables = example_variables()
    assert variables, f"no variables found in {ENV_EXAMPLE}"
    fields = {name.upper() for name in Settings.model_fields}
    assert sorted(set(variables) - fields) == []
    # and the example lists every setting ("a .env.example lists them all")
    assert sorted(fields - set(variables)) == []
    for operator_name in ("DATABASE_URL", "BACKTEST_LOOKBACK_DAYS", "BACKTEST_TIMEFRAMES", "ML_MODELS_PATH"):
        assert operator_name in variables


def test_env_example_as_dot_env_gives_the_defaults(clean_env: Path) -> None:
    (clean_env / ".env").write_text(ENV_EXAMPLE.read_text())
    from_example = Settings()
    (clean_env / ".env").unlink()
    defaults = Settings()
    for name in Settings.model_fields:
        if name in {"data_dir", "database_url", "ml_models_path"}:
            continue  # ./data vs data: the same place, spelled differently
        assert getattr(from_example, name) == getattr(defaults, name), name
    assert from_example.data_dir.resolve() == defaults.data_dir.resolve()
    assert from_example.database_url.endswith("data/blofin.db")
    assert from_example.ml_models_path.resolve() == defaults.ml_models_path.resolve()
