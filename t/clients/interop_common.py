"""Shared helpers for the Python interop clients in t/clients.

Run the clients with Debian's /usr/bin/python3 (python3-websockets 10.4), not
with another python on PATH.

Every client prints one JSON object per line on stdout:

    {"check": "<name>", "ok": true|false, "detail": "<text>", "elapsed": <s>}

and exits 0 only if every check it ran passed (1 if one failed, 2 on a usage
or setup error).  The t/interop/*.t wrappers know the names to expect, turn
each line into a TAP assertion and treat a missing line as a failure.
Every wait inside a check is bounded (asyncio.wait_for), and every check runs
under an overall per-check timeout.
"""

import argparse
import asyncio
import json
import sys
import time
import traceback
import os


def time_factor():
    """WS_TEST_TIME_FACTOR (default 1), as the Perl side reads it
    (t/lib/WSTestEnv.pm): `make test-valgrind` runs the server 10-50x
    slower and sets it; every bounded wait is multiplied by it, and a rate
    a check expects (ticks per second) divided by it."""
    try:
        f = float(os.environ.get("WS_TEST_TIME_FACTOR", "1"))
    except ValueError:
        return 1.0
    return f if f >= 1 else 1.0


def scaled(seconds):
    """seconds times time_factor()."""
    return seconds * time_factor()


class CheckFailed(Exception):
    """An assertion inside a check did not hold."""


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def short(value, limit=80):
    """repr() of a value, cut to a readable length (1 MiB payloads...)."""
    r = repr(value)
    if len(r) > limit:
        r = r[:limit] + "...(%d chars in repr)" % len(r)
    return r


class Results:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def report(self, name, ok, detail="", elapsed=None):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        rec = {"check": name, "ok": bool(ok), "detail": str(detail)}
        if elapsed is not None:
            rec["elapsed"] = round(elapsed, 3)
        sys.stdout.write(json.dumps(rec) + "\n")
        sys.stdout.flush()

    async def run(self, name, fn, timeout):
        """Run `await fn()` bounded by `timeout` seconds (times time_factor());
        record the outcome.

        fn returns an optional detail string on success and raises
        CheckFailed (or anything else) on failure.
        """
        t0 = time.monotonic()
        timeout = scaled(timeout)
        try:
            detail = await asyncio.wait_for(fn(), timeout)
        except CheckFailed as e:
            self.report(name, False, str(e), time.monotonic() - t0)
        except asyncio.TimeoutError:
            self.report(name, False, "check timed out after %ss" % timeout,
                        time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            tb = traceback.format_exception_only(type(e), e)
            self.report(name, False, "unexpected exception: " + "".join(tb).strip(),
                        time.monotonic() - t0)
        else:
            self.report(name, True, detail or "", time.monotonic() - t0)

    def exit_code(self):
        return 0 if self.failed == 0 and self.passed > 0 else 1


def base_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true",
                   help="wss:// (the port is then the TLS vhost's; no certificate "
                        "verification, SNI localhost)")
    return p


def client_tls_context(alpn=None):
    """A TLS client context for the build's self-signed certificate: no
    verification (nothing trusts it), optionally with ALPN protocols."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx
