#!/usr/bin/env python3
"""Test stand-ins for the AWS credential services, speaking their documented
wire formats on 127.0.0.1, plus an S3 gatekeeper that checks the temporary
credentials S3 requests are signed with.

One HTTP port serves:
  POST /            STS AssumeRoleWithWebIdentity (query protocol: form body;
                    XML answer, <ErrorResponse> on refusal)
  PUT  /latest/api/token                      IMDSv2 session token (needs
                    X-aws-ec2-metadata-token-ttl-seconds)
  GET  /latest/meta-data/iam/security-credentials/[ROLE]   IMDS (needs the
                    token unless --imds-v1; JSON with Code "Success")
  GET  /container/...                         container credentials (ECS, EKS
                    Pod Identity: Authorization must equal --container-token)
  GET  /_issued, /_log                        what was issued and asked (JSON)
  POST /_expire      every credential issued so far counts as expired
  POST /_reset-log

With --s3-upstream URL a second port (--s3-port-file) forwards S3 requests
there after checking X-Amz-Security-Token and the access key of the
Authorization header against what was issued: an unknown token is 403
InvalidToken, an expired one 400 ExpiredToken, as S3 answers.

Credentials are deterministic for (service, identity) unless --unique, where
every fetch issues new ones. --access-key-id fixes the key id (s3rver accepts
only S3RVER); secrets and session tokens still differ.

Usage: aws_credentials_server.py --port-file F [--lifetime S] [--role ARN=TOKEN]...
"""

import argparse
import datetime
import hashlib
import http.client
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
ISSUED = []  # dicts: service, identity, access_key_id, secret, token, expiration (unix)
LOG = []     # dicts: what each request asked
IMDS_TOKENS = set()
ARGS = None
SERIAL = [0]
START = time.time()


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(service, identity):
    with LOCK:
        SERIAL[0] += 1
        seed = f"{service}|{identity}|{SERIAL[0] if ARGS.unique else 0}"
        digest = hashlib.sha256(seed.encode()).hexdigest().upper()
        now = time.time()
        creds = {
            "service": service,
            "identity": identity,
            "access_key_id": ARGS.access_key_id or "ASIA" + digest[:16],
            "secret": "secret/" + digest[16:40],
            "token": "token-" + digest[40:64] + ("-%d" % SERIAL[0] if ARGS.unique else ""),
            # deterministic: every fetch of the same identity expires alike
            "expiration": now + ARGS.lifetime if ARGS.unique else START + ARGS.lifetime,
            "issued_at": now,
            "revoked": False,
        }
        ISSUED.append(creds)
        return creds


def record(entry):
    with LOCK:
        entry["time"] = time.time()
        LOG.append(entry)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- STS ----------------------------------------------------------------
    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_expire":
            with LOCK:
                for c in ISSUED:
                    c["revoked"] = True
            return self.reply(200, "{}")
        if path == "/_reset-log":
            with LOCK:
                LOG.clear()
            return self.reply(200, "{}")
        form = urllib.parse.parse_qs(self.body().decode(), keep_blank_values=True)
        field = lambda name: form.get(name, [""])[0]
        record({"service": "sts", "action": field("Action"), "role_arn": field("RoleArn"),
                "session_name": field("RoleSessionName"), "token": field("WebIdentityToken"),
                "content_type": self.headers.get("Content-Type", "")})
        if field("Action") != "AssumeRoleWithWebIdentity":
            return self.sts_error(400, "InvalidAction", "unsupported action")
        roles = dict(r.split("=", 1) for r in ARGS.role)
        if field("RoleArn") not in roles:
            return self.sts_error(403, "AccessDenied", "Not authorized to perform "
                                  "sts:AssumeRoleWithWebIdentity")
        tokens = roles[field("RoleArn")].split(",")
        if field("WebIdentityToken") not in tokens:
            return self.sts_error(400, "InvalidIdentityToken",
                                  "Incorrect token audience or signature")
        c = issue("sts", field("RoleArn") + "|" + field("WebIdentityToken"))
        xml = f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>{field("RoleArn")}/{field("RoleSessionName")}</Arn>
      <AssumedRoleId>AROATEST:{field("RoleSessionName")}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{c["token"]}</SessionToken>
      <SecretAccessKey>{c["secret"]}</SecretAccessKey>
      <Expiration>{iso(c["expiration"])}</Expiration>
      <AccessKeyId>{c["access_key_id"]}</AccessKeyId>
    </Credentials>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>0a1b2c3d</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"""
        self.reply(200, xml, "text/xml")

    def sts_error(self, status, code, message):
        xml = f"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>0a1b2c3d</RequestId>
</ErrorResponse>"""
        self.reply(status, xml, "text/xml")

    # --- IMDS -----------------------------------------------------------------
    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(404, "{}")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        record({"service": "imds", "request": "token", "ttl": ttl})
        if ARGS.imds_v1:
            return self.reply(404, "Not Found", "text/plain")
        if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, "Bad Request", "text/plain")
        token = "imds-session-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:20]
        with LOCK:
            IMDS_TOKENS.add(token)
        self.reply(200, token, "text/plain", [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_issued":
            with LOCK:
                return self.reply(200, json.dumps(ISSUED))
        if path == "/_log":
            with LOCK:
                return self.reply(200, json.dumps(LOG))
        prefix = "/latest/meta-data/iam/security-credentials/"
        if path.startswith(prefix):
            token = self.headers.get("X-aws-ec2-metadata-token")
            record({"service": "imds", "request": path[len(prefix):] or "role", "token": token})
            with LOCK:
                known = token in IMDS_TOKENS
            if not ARGS.imds_v1 and not known:
                return self.reply(401, "Unauthorized", "text/plain")
            role = path[len(prefix):]
            if not ARGS.imds_role:
                return self.reply(404, "Not Found", "text/plain")
            if not role:
                return self.reply(200, ARGS.imds_role, "text/plain")
            if role != ARGS.imds_role:
                return self.reply(404, "Not Found", "text/plain")
            c = issue("imds", role)
            return self.reply(200, json.dumps({
                "Code": "Success", "LastUpdated": iso(c["issued_at"]), "Type": "AWS-HMAC",
                "AccessKeyId": c["access_key_id"], "SecretAccessKey": c["secret"],
                "Token": c["token"], "Expiration": iso(c["expiration"])}))
        if path.startswith("/container/"):
            auth = self.headers.get("Authorization")
            record({"service": "container", "path": path, "authorization": auth})
            if ARGS.container_token and auth != ARGS.container_token:
                return self.reply(401, json.dumps({"code": "AccessDeniedException",
                                                   "message": "invalid authorization token"}))
            c = issue("container", path)
            return self.reply(200, json.dumps({
                "AccessKeyId": c["access_key_id"], "SecretAccessKey": c["secret"],
                "Token": c["token"], "AccountId": "123456789012",
                "Expiration": iso(c["expiration"])}))
        self.reply(404, "{}")


class Gatekeeper(http.server.BaseHTTPRequestHandler):
    """S3 in front of s3rver: refuses what real S3 would refuse for temporary
    credentials, forwards the rest unchanged."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def refuse(self, status, code, message):
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        token = self.headers.get("X-Amz-Security-Token", "")
        auth = self.headers.get("Authorization", "")
        key_id = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        now = time.time()
        with LOCK:
            match = next((c for c in ISSUED if c["token"] == token), None)
        verdict = "ok"
        if match is None:
            verdict = "InvalidToken"
        elif match["access_key_id"] != key_id:
            verdict = "InvalidAccessKeyId"
        elif match["revoked"] or match["expiration"] <= now:
            verdict = "ExpiredToken"
        record({"service": "s3", "method": self.command, "path": self.path, "token": token,
                "verdict": verdict})
        if verdict == "ExpiredToken":
            return self.refuse(400, "ExpiredToken", "The provided token has expired.")
        if verdict != "ok":
            return self.refuse(403, verdict, "The provided token is malformed or otherwise invalid.")
        upstream = urllib.parse.urlsplit(ARGS.s3_upstream)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "keep-alive", "transfer-encoding")}
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "keep-alive", "transfer-encoding",
                                    "content-length"):
                self.send_header(name, value)
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length if length is not None else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--s3-port-file")
    parser.add_argument("--s3-upstream")
    parser.add_argument("--lifetime", type=float, default=3600)
    parser.add_argument("--unique", action="store_true")
    parser.add_argument("--access-key-id", default="")
    parser.add_argument("--role", action="append", default=[],
                        help="ARN=TOKEN[,TOKEN...]: tokens STS accepts for the role")
    parser.add_argument("--imds-role", default="")
    parser.add_argument("--imds-v1", action="store_true")
    parser.add_argument("--container-token", default="")
    ARGS = parser.parse_args()

    servers = [Server(("127.0.0.1", 0), Handler)]
    ports = [(ARGS.port_file, servers[0])]
    if ARGS.s3_upstream:
        servers.append(Server(("127.0.0.1", 0), Gatekeeper))
        ports.append((ARGS.s3_port_file, servers[1]))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    for path, server in ports:  # written last: the ports answer once the files exist
        with open(path + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(path + ".tmp", path)
    sys.stdout.write("serving\n")
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    main()
