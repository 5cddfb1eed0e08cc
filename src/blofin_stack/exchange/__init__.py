"""Exchange clients: payload parsing into market types, REST and WebSocket I/O (no storage, no strategy logic)."""
