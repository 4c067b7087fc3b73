"""Operations tooling: the ``duty-ops`` command line (dead letters, streams and lag)."""
