"""Entry point: ``python -m services.intake``."""

from shared.runtime import run_service
from services.intake.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
