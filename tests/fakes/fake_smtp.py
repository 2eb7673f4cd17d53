"""A minimal SMTP sink on loopback (RFC 5321 subset) for the e-mail alert channel.

Python 3.11's smtpd is deprecated (removed in 3.12), so this is a small asyncio server of its
own, run on a thread: EHLO/HELO, optional AUTH PLAIN and AUTH LOGIN, MAIL FROM, RCPT TO, DATA
(dot-unstuffed), RSET, NOOP, QUIT. It never offers STARTTLS, so a client that requires it
must give up. Lines are capped (1000 bytes, as RFC 5321 says) and a message at 1 MiB.
"""
import asyncio
import base64
import threading
import time

LINE_MAX = 1000
MESSAGE_MAX = 1024 * 1024


class FakeSMTP:
    def __init__(self, user=None, password=None):
        self.user, self.password = user, password
        self.messages = []  # {"from", "rcpt", "data", "auth"}
        self.sessions = []  # commands seen, per connection
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = None
        self.quit_delay = 0.0  # seconds to wait before answering QUIT (a slow relay)
        self.quit_seen = threading.Event()

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc):
        async def stop():
            # Sessions still open (a client mid-QUIT) end here, not in a closed loop.
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def wait(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} message(s) arrived, wanted {n}")

    async def _session(self, reader, writer):
        seen = []
        with self._lock:
            self.sessions.append(seen)
        state = {"from": None, "rcpt": [], "auth": None}

        async def reply(text):
            writer.write((text + "\r\n").encode())
            await writer.drain()

        async def line():
            raw = await reader.readuntil(b"\n")
            if len(raw) > LINE_MAX:
                raise ValueError("line too long")
            return raw.rstrip(b"\r\n").decode("utf-8", "replace")

        try:
            await reply("220 fake-smtp ESMTP ready")
            while True:
                cmd = await line()
                verb = cmd.split(" ", 1)[0].upper()
                seen.append(verb if verb != "AUTH" else "AUTH " + cmd.split(" ")[1].upper())
                if verb in ("EHLO", "HELO"):
                    if verb == "HELO":
                        await reply("250 fake-smtp")
                        continue
                    writer.write(b"250-fake-smtp\r\n250-8BITMIME\r\n")
                    if self.user:
                        writer.write(b"250-AUTH PLAIN LOGIN\r\n")
                    await reply("250 SIZE 1048576")
                elif verb == "AUTH":
                    await self._auth(cmd, reply, line, state)
                elif verb == "MAIL":
                    if self.user and not state["auth"]:
                        await reply("530 5.7.0 Authentication required")
                        continue
                    # "MAIL FROM:<a@b> SIZE=457": the path, then ESMTP parameters
                    state["from"] = cmd[cmd.index(":") + 1:].strip().split(" ")[0]
                    state["rcpt"] = []
                    await reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    state["rcpt"].append(cmd[cmd.index(":") + 1:].strip().split(" ")[0])
                    await reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not state["from"] or not state["rcpt"]:
                        await reply("503 5.5.1 need MAIL and RCPT first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    data, size = [], 0
                    while True:
                        ln = await line()
                        if ln == ".":
                            break
                        if ln.startswith("."):
                            ln = ln[1:]
                        size += len(ln) + 2
                        if size > MESSAGE_MAX:
                            raise ValueError("message too big")
                        data.append(ln)
                    with self._lock:
                        self.messages.append({"from": state["from"], "rcpt": state["rcpt"],
                                              "data": "\n".join(data), "auth": state["auth"]})
                    await reply("250 2.0.0 Ok: queued")
                elif verb == "RSET":
                    state.update({"from": None, "rcpt": []})
                    await reply("250 Ok")
                elif verb == "NOOP":
                    await reply("250 Ok")
                elif verb == "QUIT":
                    self.quit_seen.set()
                    await asyncio.sleep(self.quit_delay)
                    await reply("221 Bye")
                    break
                else:
                    await reply("502 5.5.2 command not recognized")
        except (asyncio.IncompleteReadError, ConnectionError, ValueError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _auth(self, cmd, reply, line, state):
        parts = cmd.split(" ")
        mech = parts[1].upper() if len(parts) > 1 else ""
        if mech == "PLAIN":
            if len(parts) > 2:
                blob = parts[2]
            else:
                await reply("334 ")
                blob = await line()
            _, user, pw = base64.b64decode(blob).decode().split("\0")
        elif mech == "LOGIN":
            if len(parts) > 2:
                user = base64.b64decode(parts[2]).decode()
            else:
                await reply("334 VXNlcm5hbWU6")
                user = base64.b64decode(await line()).decode()
            await reply("334 UGFzc3dvcmQ6")
            pw = base64.b64decode(await line()).decode()
        else:
            await reply("504 5.5.4 unrecognized authentication type")
            return
        if user == self.user and pw == self.password:
            state["auth"] = user
            await reply("235 2.7.0 Authentication successful")
        else:
            await reply("535 5.7.8 Authentication credentials invalid")
