"""Entry point: ``python -m services.reports``."""

from shared.runtime import run_service
from services.reports.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
