"""The Rasa input channel ``bot.rasa_channel.GatewayInput``, exercised in Rasa's own venv.

pytest runs in the ML venv (no rasa there), so the checks run as a script under
``.venv-rasa/bin/python``: a Sanic app serves the channel's blueprint with a fake
``on_new_message`` on a free local port, and plain HTTP requests go to it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = textwrap.dedent(r'''
    import asyncio, json, logging, os, socket, sys, urllib.error, urllib.request
    from sanic import Sanic
    from bot.rasa_channel import GatewayInput, sign

    class Count(logging.Handler):
        def __init__(self):
            super().__init__()
            self.warnings = []
        def emit(self, record):
            if record.levelno == logging.WARNING:
                self.warnings.append(record.getMessage())

    counter = Count()
    logging.getLogger("bot.rasa_channel").addHandler(counter)

    def post(port, body, headers):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/gateway/webhook",
                                     data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def get(port, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())

    async def serve(name, channel, checks):
        seen = []
        async def on_new_message(message):
            seen.append(message)
            await message.output_channel.send_text_message(message.sender_id, "echo " + (message.text or ""))
        app = Sanic(name)
        # as rasa.core.channels.channel.register does, with route "/webhooks/"
        app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/" + channel.url_prefix())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        task = asyncio.ensure_future(server.serve_forever())
        try:
            await asyncio.get_running_loop().run_in_executor(None, checks, port, seen)
        finally:
            server.close()
            await server.wait_closed()
            task.cancel()

    def open_checks(port, seen):
        assert get(port, "/webhooks/gateway/") == (200, {"status": "ok"})
        body = json.dumps({"sender": "shopper-1", "message": "/find_photo",
                           "metadata": {"image": "ab" * 32}}).encode()
        status, out = post(port, body, {"Content-Type": "application/json"})
        assert status == 200, (status, out)
        assert out == [{"recipient_id": "shopper-1", "text": "echo /find_photo"}], out
        msg = seen[-1]
        assert msg.metadata == {"image": "ab" * 32}, msg.metadata
        assert msg.input_channel == "gateway" and msg.sender_id == "shopper-1"
        # metadata that is not an object is dropped, not passed on
        status, _ = post(port, json.dumps({"sender": "s", "message": "hi", "metadata": [1]}).encode(),
                         {"Content-Type": "application/json"})
        assert status == 200 and seen[-1].metadata is None
        status, _ = post(port, json.dumps({"sender": "s", "message": "hi"}).encode(),
                         {"Content-Type": "application/json"})
        assert status == 200 and seen[-1].metadata is None
        # malformed bodies: 400, never reach the agent
        n = len(seen)
        for bad in (b"not json", b"[1, 2]", json.dumps({"message": "no sender"}).encode()):
            status, out = post(port, bad, {"Content-Type": "application/json"})
            assert status == 400 and "error" in out, (bad, status, out)
        assert len(seen) == n

    def signed_checks(port, seen):
        body = json.dumps({"sender": "shopper-2", "message": "red dress",
                           "metadata": {"image": "cd" * 32}}).encode()
        status, out = post(port, body, {"Content-Type": "application/json",
                                        "X-Shop-Signature": sign("s3cret", body)})
        assert status == 200, (status, out)
        assert seen[-1].metadata == {"image": "cd" * 32} and seen[-1].text == "red dress"
        n = len(seen)
        for headers in ({}, {"X-Shop-Signature": sign("wrong", body)},
                        {"X-Shop-Signature": "sha256=" + "0" * 64}, {"X-Shop-Signature": "garbage"}):
            status, out = post(port, body, {"Content-Type": "application/json", **headers})
            assert status == 401, (headers, status, out)
            assert "X-Shop-Signature" in out["error"]
        # a valid signature of another body does not carry over
        other = body.replace(b"red", b"blue")
        status, _ = post(port, other, {"Content-Type": "application/json",
                                       "X-Shop-Signature": sign("s3cret", body)})
        assert status == 401
        assert len(seen) == n, "rejected calls must not reach the agent"

    async def main(mode):
        # one Sanic app per process: Sanic 21.12 cannot start a second app in the same process
        channel = GatewayInput.from_credentials({} if mode == "open" else None)
        assert GatewayInput.name() == "gateway"
        if mode == "open":
            assert channel.secret is None
            await serve("open", channel, open_checks)
            channel.blueprint(lambda m: None)  # a second blueprint: no second warning
            assert len([w for w in counter.warnings if "SHOP_GATEWAY_SECRET" in w]) == 1, counter.warnings
        else:
            assert channel.secret == "s3cret"
            await serve("signed", channel, signed_checks)
            assert not [w for w in counter.warnings if "is not set" in w], counter.warnings

    asyncio.run(main(sys.argv[1]))
    print("SIGNATURE", sign("s3cret", b'{"sender":"s","message":"hi"}'))
    print("CHANNEL-OK")
''')


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason=f"Rasa's venv is not installed ({RASA_PYTHON} missing)")
@pytest.mark.parametrize("mode", ["open", "signed"])
def test_gateway_channel_under_rasa(mode: str) -> None:
    """open: no secret, metadata passes through, bad bodies 400, one warning; signed: only
    correctly signed calls reach the agent, others get 401."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    env.pop("SHOP_GATEWAY_SECRET", None)
    if mode == "signed":
        env["SHOP_GATEWAY_SECRET"] = "s3cret"
    proc = subprocess.run([str(RASA_PYTHON), "-c", SCRIPT, mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "CHANNEL-OK" in proc.stdout, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-6000:]}")
    # the gateway signs exactly as the channel checks
    from bot.gateway.services import sign

    expected = sign("s3cret", b'{"sender":"s","message":"hi"}')
    assert f"SIGNATURE {expected}" in proc.stdout


def test_channel_module_imports_only_rasa_sanic_and_stdlib() -> None:
    """The Rasa process must not need the ML venv's packages."""
    import ast

    tree = ast.parse((ROOT / "bot" / "rasa_channel.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    allowed = {"rasa", "sanic", "__future__"} | set(sys.stdlib_module_names)
    assert roots <= allowed, roots - allowed
