"""The control plane's HTTP API (FastAPI): :func:`suanli.api.app.create_app`."""
