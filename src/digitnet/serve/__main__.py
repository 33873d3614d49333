"""`python -m digitnet.serve MODEL [--host H] [--port P]`: what `digitnet serve` runs, without the CLI.

Benchmarks start the server this way so that they work on any checkout.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m digitnet.serve")
    parser.add_argument("model", help="run directory, model.keras file or ensemble directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-body-bytes", type=int, default=None)
    args = parser.parse_args()

    from digitnet.predict import ModelLoadError
    from digitnet.serve.app import run_server
    from digitnet.serve.errors import ServeError

    limits = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    try:
        run_server(args.model, args.host, args.port, **limits)
    except (ModelLoadError, ServeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
