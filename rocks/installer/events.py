"""Install stages reported where the kickstart's own phone-home lines report them.

The kickstart's %pre and %post scripts post their stages themselves (`curl … --data-urlencode
"stage=…" … --data-urlencode "token=…" <frontend>/install/events`). The installer reads the URL
and the token from those lines and posts, the same way, what only it knows: a script that
failed, and a failed install. Without phone-home lines it reports nothing (and says so).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rocks.installer.scripts import KsScript

_URL = re.compile(r"(https?://[^\s\"']+/install/events)\b")
_TOKEN = re.compile(r"""token=([^\s"'&]+)""")


@dataclass(frozen=True, slots=True)
class Reporter:
    url: str
    token: str
    say: Callable[[str], None] = print

    @classmethod
    def from_scripts(cls, scripts: Iterable[KsScript], say: Callable[[str], None] = print
                     ) -> Reporter | None:
        for s in scripts:
            url, token = _URL.search(s.body), _TOKEN.search(s.body)
            if url and token:
                return cls(url.group(1), token.group(1), say)
        return None

    def post(self, stage: str, message: str, attempts: int = 3) -> bool:
        body = urllib.parse.urlencode({"stage": stage, "message": message[:900],
                                       "token": self.token}).encode()
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(self.url, data=body, method="POST", headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    self.say(f"event {stage}: {resp.read().decode().strip()}")
                    return True
            except urllib.error.HTTPError as exc:
                self.say(f"event {stage}: refused, HTTP {exc.code}")
                if exc.code < 500:
                    return False
            except (urllib.error.URLError, OSError) as exc:
                self.say(f"event {stage}: {getattr(exc, 'reason', exc)}")
            time.sleep(2 * attempt)
        return False
