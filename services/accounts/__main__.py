"""Entry point: ``python -m services.accounts``."""

from shared.runtime import run_service
from services.accounts.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
