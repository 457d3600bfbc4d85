from fastbreaker.external_service_client import *  # noqa: F403
