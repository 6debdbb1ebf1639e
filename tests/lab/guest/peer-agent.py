#!/usr/bin/python3
"""Runs commands for the main guest's scenarios, in the peer guest.

POST /run {"argv": [...], "timeout": SECONDS} answers
{"rc": N, "stdout": "...", "stderr": "..."}. It listens only on the peer's
address on the private link between the two guests, which reaches nothing
else; it is a lab tool, never part of the product.
"""
import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/run":
            self.send_error(404)
            return
        req = json.loads(self.rfile.read(int(self.headers["content-length"])))
        try:
            done = subprocess.run(req["argv"], capture_output=True, text=True, errors="replace",
                                  timeout=req.get("timeout", 60))
            answer = {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        except (OSError, subprocess.TimeoutExpired) as e:
            answer = {"rc": 127, "stdout": "", "stderr": str(e)}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
