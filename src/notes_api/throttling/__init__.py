"""Login throttling: failed attempts counted per (username, address) and per address."""
