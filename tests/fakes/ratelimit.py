"""An account's rate limit as OpenAI enforces and reports it, for the fake upstreams.

OpenAI (and OpenAI-compatible providers that copy it) limits an organization's tokens and
requests per minute. A request is counted when it arrives, at its prompt tokens plus its
``max_tokens`` (``max_completion_tokens``); once answered, the count becomes what it used. A
request that would pass a limit is refused with 429 before any generation::

    {"error": {"message": "Rate limit reached for gpt-4o in organization org-fake on tokens
      per min (TPM): Limit 30000, Used 29500, Requested 1200. Please try again in 1.4s.
      Visit https://platform.openai.com/account/rate-limits to learn more.",
      "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}

Every answer, refused or not, carries ``x-ratelimit-limit-{requests,tokens}``,
``x-ratelimit-remaining-{requests,tokens}`` and ``x-ratelimit-reset-{requests,tokens}`` (a
duration such as ``120ms``, ``1.4s``, ``6m0s``: the time until the window is back to its full
limit); a 429 also carries ``retry-after`` (whole seconds, rounded up, until the request
would fit).

The window here is an exact sliding 60 s, so a client that bursts past the ceiling at any
moment is refused: hermetic's rate pools must never provoke a 429 from it. ``peak_tokens`` is
the most the window held at once, ``refused`` the 429s sent.
"""
import math
import threading
import time

WINDOW_S = 60.0


def duration(seconds: float) -> str:
    """OpenAI's reset format: 9ms, 1.4s, 17.28s, 6m0s."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 2):g}s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s}s"


class SlidingLimit:
    """Tokens and requests per minute over an exact sliding window (thread-safe)."""

    def __init__(self, tpm: int | None, rpm: int | None, clock=time.monotonic):
        self.tpm, self.rpm = tpm, rpm
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: list[list] = []  # [arrival, tokens]
        self.peak_tokens = 0
        self.refused = 0
        self.admitted = 0
        self.timeline: list[list] = []  # [arrival, tokens counted, model], for benchmarks

    def _prune(self, now: float):
        self._entries = [e for e in self._entries if now - e[0] < WINDOW_S]

    def _used(self) -> tuple[int, int]:
        return sum(e[1] for e in self._entries), len(self._entries)

    def _frees(self, now: float, need_tokens: int, need_requests: int) -> float:
        """Seconds until the window has room for need_tokens more tokens and need_requests
        more requests (entries leave oldest first)."""
        used_t, used_r = self._used()
        wait = 0.0
        for at, tokens in sorted(self._entries):
            over_t = self.tpm is not None and used_t + need_tokens > self.tpm
            over_r = self.rpm is not None and used_r + need_requests > self.rpm
            if not over_t and not over_r:
                break
            wait = at + WINDOW_S - now
            used_t -= tokens
            used_r -= 1
        return max(0.0, wait)

    def headers(self, now: float | None = None) -> dict:
        with self._lock:
            now = self._clock() if now is None else now
            self._prune(now)
            return self._headers(now)

    def _headers(self, now: float) -> dict:
        used_t, used_r = self._used()
        full = max((e[0] + WINDOW_S - now for e in self._entries), default=0.0)
        h = {}
        if self.rpm is not None:
            h["x-ratelimit-limit-requests"] = str(self.rpm)
            h["x-ratelimit-remaining-requests"] = str(max(0, self.rpm - used_r))
            h["x-ratelimit-reset-requests"] = duration(full)
        if self.tpm is not None:
            h["x-ratelimit-limit-tokens"] = str(self.tpm)
            h["x-ratelimit-remaining-tokens"] = str(max(0, self.tpm - used_t))
            h["x-ratelimit-reset-tokens"] = duration(full)
        return h

    def admit(self, model: str, tokens: int):
        """Counts a request of `tokens` now. Returns (entry, headers) when it fits, else
        (None, (status, body, headers)) for the 429 to send."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            used_t, used_r = self._used()
            over_r = self.rpm is not None and used_r + 1 > self.rpm
            over_t = self.tpm is not None and used_t + tokens > self.tpm
            if over_r or over_t:
                self.refused += 1
                wait = self._frees(now, tokens, 1)
                if over_r:
                    kind, unit, limit, used, req = "requests", "requests per min (RPM)", \
                        self.rpm, used_r, 1
                else:
                    kind, unit, limit, used, req = "tokens", "tokens per min (TPM)", \
                        self.tpm, used_t, tokens
                body = {"error": {
                    "message": f"Rate limit reached for {model} in organization org-fake on "
                               f"{unit}: Limit {limit}, Used {used}, Requested {req}. Please "
                               f"try again in {duration(wait)}. Visit "
                               "https://platform.openai.com/account/rate-limits to learn more.",
                    "type": kind, "param": None, "code": "rate_limit_exceeded"}}
                h = self._headers(now)
                h["retry-after"] = str(max(1, math.ceil(wait)))
                return None, (429, body, h)
            entry = [now, tokens]
            self._entries.append(entry)
            self.timeline.append([now, tokens, model])
            self.admitted += 1
            self.peak_tokens = max(self.peak_tokens, used_t + tokens)
            return entry, self._headers(now)

    def settle(self, entry, used_tokens: int):
        """The request is answered. Like OpenAI, nothing is given back when it used less than
        counted on arrival; an answer that used more (no max_tokens) counts what it used."""
        with self._lock:
            if used_tokens > entry[1]:
                entry[1] = used_tokens
                self._prune(self._clock())
                self.peak_tokens = max(self.peak_tokens, self._used()[0])
