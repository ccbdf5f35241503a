"""The ASGI application: routes, health and readiness."""
