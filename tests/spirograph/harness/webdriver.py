"""A minimal W3C WebDriver client (HTTP + JSON, standard library only) for the browser tests.

It drives Debian's ``chromedriver`` with headless Chromium: open a page at a window size, run a
script, click an element. Enough to measure a layout and follow a click without a test dependency.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def chromedriver() -> str | None:
    """Path of a chromedriver, or None."""
    return shutil.which("chromedriver") or next((p for p in ("/usr/lib/chromium/chromedriver",) if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One headless Chromium session; use as a context manager."""

    def __init__(self, driver: str, binary: str, profile: Path) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.2)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}"]
        capabilities = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": binary, "args": args}}}}
        self.session = self._call("POST", "/session", capabilities)["sessionId"]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["value"]

    def command(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str, width: int, height: int) -> None:
        """Load ``url`` in a window whose viewport is ``width`` x ``height`` CSS pixels."""
        self.command("POST", "/window/rect", {"width": width, "height": height})
        # The window's outer size includes browser chrome (none when headless, but measure to be sure).
        inner = self.run("return [window.innerWidth, window.innerHeight];")
        self.command("POST", "/window/rect", {"width": 2 * width - inner[0], "height": 2 * height - inner[1]})
        self.command("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body; ``arguments`` holds ``args``) in the page; return its result."""
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def click(self, css: str) -> None:
        """Click the first element matching the CSS selector ``css``, as a user would."""
        element = self.command("POST", "/element", {"using": "css selector", "value": css})[_ELEMENT]
        self.command("POST", f"/element/{element}/click", {})

    def key(self, key: str) -> None:
        """Press and release one key (e.g. ``"\\ue00c"``, WebDriver's Escape)."""
        actions = [{"type": "key", "id": "keyboard", "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]
        self.command("POST", "/actions", {"actions": actions})

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.command("DELETE", "")
        except OSError:
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
