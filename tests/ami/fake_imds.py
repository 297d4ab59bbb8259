#!/usr/bin/env python3
"""A fake EC2 instance metadata service (IMDSv2 only) for tests/ami_bind.rs.

Serves the files under ROOT as /latest/meta-data/...: a directory lists its entries one per
line (subdirectories with a trailing '/'), as IMDS does. GETs without the token that
PUT /latest/api/token handed out get 401, like IMDSv2 with HttpTokens=required. Every request
is logged to ROOT/../imds.log. Prints the port it listens on (127.0.0.1, ephemeral) and serves
until killed.
Usage: fake_imds.py ROOT
"""
import http.server
import os
import sys

ROOT = os.path.abspath(sys.argv[1])
TOKEN = "fake-imds-token"
LOG = os.path.join(os.path.dirname(ROOT), "imds.log")


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        with open(LOG, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, TOKEN.encode())
        else:
            self.reply(400)

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self.reply(401)
            return
        prefix = "/latest/meta-data/"
        if not self.path.startswith(prefix):
            self.reply(404)
            return
        p = os.path.normpath(os.path.join(ROOT, self.path[len(prefix):]))
        if not p.startswith(ROOT):
            self.reply(404)
        elif os.path.isdir(p):
            names = sorted(n + "/" if os.path.isdir(os.path.join(p, n)) else n for n in os.listdir(p))
            self.reply(200, "\n".join(names).encode())
        elif os.path.isfile(p):
            with open(p, "rb") as f:
                self.reply(200, f.read().strip())
        else:
            self.reply(404)


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
