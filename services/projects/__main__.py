"""Entry point: ``python -m services.projects``."""

from shared.runtime import run_service
from services.projects.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
