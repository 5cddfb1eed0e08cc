"""Feature library: named, causal indicators over OHLCV bars (see ``docs/FEATURE_LIBRARY.md``).

Importing this package registers the built-in features (one module per group).
"""

from blofin_stack.features import (  # noqa: F401  (imported for their registrations)
    macd,
    momentum,
    oscillators,
    patterns,
    price,
    regime,
    trend,
    volatility,
    volume,
    volume_weighted,
)
from blofin_stack.features.manager import FeatureError, FeatureManager, compute_features, max_warmup
from blofin_stack.features.registry import (
    GROUPS,
    REGISTRY,
    FeatureSpec,
    UnknownFeatureError,
    family,
    feature,
)

__all__ = [
    "GROUPS",
    "REGISTRY",
    "FeatureError",
    "FeatureManager",
    "FeatureSpec",
    "UnknownFeatureError",
    "compute_features",
    "family",
    "feature",
    "max_warmup",
]
