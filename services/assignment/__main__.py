"""Entry point: ``python -m services.assignment``."""

from shared.runtime import run_service
from services.assignment.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
