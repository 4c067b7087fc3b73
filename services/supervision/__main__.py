"""Entry point: ``python -m services.supervision``."""

from shared.runtime import run_service
from services.supervision.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
