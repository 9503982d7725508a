"""The ceiling beside the gateway: a bare FastAPI endpoint served by the same uvicorn setup.

It answers a Livy batch of the same shape and size as the gateway's, from memory, so the ratio
gateway/reference measures what the gateway adds (database, authentication, middleware), not the cost
of the framework itself. Usage: python bench/reference_app.py --port 8999
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

from spark_gateway.cli import setup_logging

app = FastAPI()

BATCH: dict[str, Any] = {
    "id": 500000,
    "name": "bench-500000",
    "owner": "user0",
    "proxyUser": None,
    "state": "success",
    "appId": "local-500000",
    "appInfo": {
        "driverLogUrl": None,
        "sparkUiUrl": None,
        "sparkHistoryUrl": None,
        "executorLogUrls": None,
        "GatewayId": "local-dflt-0007a120-0000-7000-8000-00000007a120",
        "Cluster": "local",
    },
    "log": [f"26/01/01 00:00:00 INFO SparkContext: bench line {i} of batch 500000" for i in range(40, 50)],
}


@app.get("/api/livy/batches/{batch_id}")
async def batch(batch_id: int) -> dict[str, Any]:
    return {**BATCH, "id": batch_id}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The gateway's `serve` setup: its logging (the access log at info, one line per request, to
    # stderr), log_config=None, no proxy headers.
    setup_logging("info")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", log_config=None, proxy_headers=False)


if __name__ == "__main__":
    main()
