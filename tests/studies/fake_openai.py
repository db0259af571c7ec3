"""A small OpenAI-compatible chat server on 127.0.0.1 for collector tests.

Markers in a prompt script its misbehaviour on the first request for that prompt: ``SLOW``
answers after ``slow_seconds`` (past the client's timeout), ``RATE`` answers 429 with
``Retry-After: 1``, ``ERROR`` answers 500, ``DROP`` closes the connection without an answer.
``FAIL`` answers 500 and ``HANG`` blocks on every request until ``healed`` is set.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, slow_seconds: float = 1.0) -> None:
        self.slow_seconds = slow_seconds
        self.requests: list[dict] = []
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.healed = threading.Event()
        self.answer = lambda prompt: f"Answer to: {prompt}"  # what the model says
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server.lock:
                    server.counts[prompt] += 1
                    attempt = server.counts[prompt]
                    server.requests.append(
                        {
                            "path": self.path,
                            "prompt": prompt,
                            "body": body,
                            "authorization": self.headers.get("Authorization"),
                            "at": time.monotonic(),
                        }
                    )
                try:
                    server.respond(self, body, prompt, attempt)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); nothing to do

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.healed.set()  # release hanging handlers
        self.httpd.shutdown()
        self.httpd.server_close()

    def asked(self, prompt: str) -> list[dict]:
        return [r for r in self.requests if r["prompt"] == prompt]

    # -- behaviour ---------------------------------------------------------------------------
    def respond(self, handler: BaseHTTPRequestHandler, body: dict, prompt: str, attempt: int):
        healed = self.healed.is_set()
        if "HANG" in prompt and not healed:
            self.healed.wait(10)
        if "FAIL" in prompt and not healed:
            return self._send(handler, 500, {"error": "permanently broken"})
        if attempt == 1:
            if "SLOW" in prompt:
                time.sleep(self.slow_seconds)
            elif "RATE" in prompt:
                return self._send(handler, 429, {"error": "slow down"}, {"Retry-After": "1"})
            elif "ERROR" in prompt:
                return self._send(handler, 500, {"error": "boom"})
            elif "DROP" in prompt:
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return None
        answer = {
            "id": f"cmpl-{attempt}",
            "object": "chat.completion",
            "model": f"served/{body['model']}",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.answer(prompt)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
        return self._send(handler, 200, answer)

    @staticmethod
    def _send(handler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
