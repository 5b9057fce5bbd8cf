"""Sessions: one row per login, and what ends them."""
