#!/usr/bin/python3
"""The browser of the conformance runs: `browser.py URL`, run by `hermetic mcp login` as
$BROWSER. The suite's authorization servers approve at once, so a person's part is only to
follow the authorization URL's redirects until they land on hermetic's loopback listener
(urllib follows them). Quiet: hermetic's stdout is the client's."""
import sys
import urllib.request

try:
    urllib.request.urlopen(sys.argv[1], timeout=20).read(65536)
except Exception as e:  # the run's judge is what reached the servers, not this
    print(f"browser.py: {e}", file=sys.stderr)
