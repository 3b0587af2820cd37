"""Signs one S3 request with botocore, the reference for sigv4_test.cc.

Usage: botocore_sign.py REQUEST.json

REQUEST.json holds: access_key, secret_key, token (may be empty), region,
time (Unix seconds), scheme, host (with ":port" when not the default),
method, path (raw, not encoded: botocore's S3 serializer encoding is applied
here), query ([name, value] pairs, raw), headers ([name, value] pairs),
and either "unsigned": true (UNSIGNED-PAYLOAD) or "body" (hashed by botocore).

Prints the signed headers as "Name: value" lines, an empty line, then the
canonical request. Exits non-zero with a message when botocore is missing.
"""

import datetime
import json
import sys
import types

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import botocore.utils
except ImportError as e:
    sys.exit(f"botocore_sign.py: cannot import botocore ({e}); install python3-botocore")


def fixed_datetime_module(unix_seconds):
    """A stand-in for the datetime module inside botocore.auth whose clock
    is stopped at `unix_seconds`, so the signature is reproducible."""
    fixed = datetime.datetime.fromtimestamp(unix_seconds, datetime.timezone.utc)

    class FixedDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return fixed if tz else fixed.replace(tzinfo=None)

    return types.SimpleNamespace(
        datetime=FixedDateTime, timezone=datetime.timezone, timedelta=datetime.timedelta
    )


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)

    fixed = fixed_datetime_module(spec["time"])
    botocore.auth.datetime = fixed
    if hasattr(botocore.auth, "get_current_datetime"):  # newer botocore
        botocore.auth.get_current_datetime = fixed.datetime.utcnow

    path = botocore.utils.percent_encode(spec["path"], safe="/~")
    request = botocore.awsrequest.AWSRequest(
        method=spec["method"], url=f'{spec["scheme"]}://{spec["host"]}{path}'
    )
    for name, value in spec["headers"]:
        request.headers[name] = value  # repeated names are kept, not replaced
    request.params = [tuple(pair) for pair in spec["query"]]
    if spec.get("unsigned"):
        request.context["client_config"] = types.SimpleNamespace(
            s3={"payload_signing_enabled": False}
        )
    else:
        request.data = spec.get("body", "").encode("utf-8")

    credentials = botocore.credentials.Credentials(
        spec["access_key"], spec["secret_key"], spec["token"] or None
    )
    auth = botocore.auth.S3SigV4Auth(credentials, "s3", spec["region"])
    # Keep the canonical request botocore signed (computing it again after
    # signing would include the Authorization header).
    canonical = []
    compute_canonical = auth.canonical_request
    auth.canonical_request = lambda r: canonical.append(compute_canonical(r)) or canonical[-1]
    auth.add_auth(request)

    for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token"):
        if name in request.headers:
            print(f"{name}: {request.headers[name]}")
    print()
    sys.stdout.write(canonical[0])


if __name__ == "__main__":
    main()
