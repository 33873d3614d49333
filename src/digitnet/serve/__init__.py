"""The HTTP service: `create_app(predictor, ...)` and `run_server(model_path, host, port)` (see app.py).

Importing the package stays cheap (FastAPI loads on first use), so the CLI can catch
`digitnet.serve.errors.ServeError` without paying for the web stack.
"""


def __getattr__(name: str):
    if name in ("create_app", "run_server"):
        from digitnet.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'digitnet.serve' has no attribute {name!r}")


__all__ = ["create_app", "run_server"]
