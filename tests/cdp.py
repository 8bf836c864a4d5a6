"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no extra packages).

Headless Chromium's ``--window-size`` is the window, not the page: with ``--dump-dom`` a page asked
for 390×844 is laid out at 500 px or more.  :func:`render` sets the exact viewport
(``Emulation.setDeviceMetricsOverride``) before loading, runs a JS expression in the loaded page,
and takes a screenshot — with every host name unresolvable and a dead proxy, so nothing is
fetched from the network.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.proc, self.w, self.r = proc, to_browser, from_browser
        self.buf, self.next_id, self.events = b"", 0, []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout_s: float = 60.0) -> dict[str, Any]:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, *, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        for i, m in enumerate(self.events):
            if m.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)


def render(chromium: str, url: str, tmp: Path, *, width: int, height: int, expression: str,
           screenshot: Path | None = None, settle_ms: int = 500) -> tuple[Any, list[str]]:
    """Load ``url`` at exactly ``width``×``height`` CSS pixels (a touch screen when narrower than
    600 px), wait for load + ``settle_ms``, evaluate ``expression`` (its JSON value is returned)
    and optionally save a PNG screenshot.  Returns (value, uncaught exception texts)."""
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
            f"--user-data-dir={tmp / 'chromium-cdp-profile'}", "--remote-debugging-pipe", "about:blank"]

    def fds() -> None:  # the browser reads commands on fd 3 and writes answers on fd 4
        a, b = os.dup(to_r), os.dup(from_w)  # a < b: fresh copies, so the dup2s cannot clobber each other
        os.dup2(a, 3)
        os.dup2(b, 4)

    # close_fds=False: fds 3/4 are made in preexec_fn, and Popen would close them after it otherwise
    # (every other descriptor of this process is non-inheritable and is closed on exec anyway)
    proc = subprocess.Popen(args, close_fds=False, preexec_fn=fds, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp)
    os.close(to_r)
    os.close(from_w)
    pipe = _Pipe(proc, to_w, from_r)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        pipe.call("Runtime.enable", session=s)
        pipe.call("Page.enable", session=s)
        pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": width < 600}, session=s)
        pipe.call("Page.navigate", {"url": url}, session=s)
        pipe.wait_event("Page.loadEventFired")
        value = pipe.call("Runtime.evaluate", {
            "expression": f"new Promise(r => setTimeout(() => r({expression}), {settle_ms}))",
            "awaitPromise": True, "returnByValue": True}, session=s)
        if "exceptionDetails" in value:
            raise RuntimeError(f"probe failed: {value['exceptionDetails']}")
        if screenshot is not None:
            png = pipe.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
            screenshot.write_bytes(base64.b64decode(png))
        errors = [json.dumps(m["params"]["exceptionDetails"], ensure_ascii=False) for m in pipe.events
                  if m.get("method") == "Runtime.exceptionThrown"]
        try:
            pipe.call("Browser.close", timeout_s=10)
        except (RuntimeError, TimeoutError):
            pass
        return value["result"].get("value"), errors
    finally:
        os.close(to_w)
        os.close(from_r)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
