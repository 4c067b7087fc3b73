"""Entry point: ``python -m services.intake``."""

from shared.runtime import run_service
from services.intake.bus import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
