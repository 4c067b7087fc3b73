"""Entry point: ``python -m services.liaison``."""

from shared.runtime import run_service
from services.liaison.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
