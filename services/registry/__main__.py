"""Entry point: ``python -m services.registry``."""

from shared.runtime import run_service
from services.registry.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
