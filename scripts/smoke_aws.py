"""``make smoke-aws``: the seed workflow against a REAL AWS account, with a cost cap and
guaranteed clean-up. Not part of CI. Costs a few cents: r=1 for each service by default.

Needs AWS credentials in the usual chain and SIGNALRISK_SMOKE_MAX_USD (refuses to run without).
Steps: deploy; start the API on the aws platform; run the seed client for lambda then ec2;
check every reported cost is under the cap; then, whatever happened, terminate, cleanup and
destroy (the audit bucket is kept unless SIGNALRISK_SMOKE_DELETE_AUDIT=1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from signalrisk.seedclient import SeedClient


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def main() -> int:
    cap = os.environ.get("SIGNALRISK_SMOKE_MAX_USD")
    if not cap:
        print(
            "set SIGNALRISK_SMOKE_MAX_USD (e.g. 0.50): the most this run may cost", file=sys.stderr
        )
        return 2
    r = int(os.environ.get("SIGNALRISK_SMOKE_R", "1"))
    env = {**os.environ, "SIGNALRISK_PLATFORM": "aws"}
    port = os.environ.get("SIGNALRISK_SMOKE_PORT", "8181")
    cli = [sys.executable, "-m", "signalrisk"]
    api = None
    try:
        sh(*cli, "deploy", "aws")
        api = subprocess.Popen([*cli, "serve", "--port", port], env=env)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        client = SeedClient(url, poll_s=5.0)
        spent = 0.0
        for service in ("lambda", "ec2"):
            run = client.run(service, r=r)
            spent += run.answers["/get_warmup_cost"]["cost"] + run.answers["/get_time_cost"]["cost"]
            print(service, "total P/L", run.answers["/get_tot_profit_loss"]["profit_loss"])
        print(f"estimated spend ${spent:.4f} (cap ${float(cap):.2f})")
        return 0 if spent <= float(cap) else 1
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        subprocess.run([*cli, "cleanup"], env=env, check=False)
        destroy = [*cli, "destroy", "aws"]
        if os.environ.get("SIGNALRISK_SMOKE_DELETE_AUDIT") == "1":
            destroy.append("--delete-audit")
        subprocess.run(destroy, env=env, check=False)


if __name__ == "__main__":
    sys.exit(main())
