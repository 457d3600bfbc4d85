from fastbreaker.external_service_client import *  # noqa: F401,F403
