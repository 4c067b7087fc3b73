"""Entry point: ``python -m services.notifications``."""

from shared.runtime import run_service
from services.notifications.bootstrap import build_runtime

if __name__ == "__main__":
    run_service(build_runtime)
