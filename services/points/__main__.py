"""Entry point: ``python -m services.points``."""

from shared.runtime import run_service
from services.points.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
