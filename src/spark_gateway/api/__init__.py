"""HTTP layer: FastAPI routers (one module per resource), error mapping, and the app factory."""
