"""Assignment: who handles a registered suggestion, and by when (交办)."""
