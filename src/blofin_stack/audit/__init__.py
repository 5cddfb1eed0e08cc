"""Leakage guards: the look-ahead audit of features and strategies."""
