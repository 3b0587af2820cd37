"""Resolves credentials with botocore's own chain, the reference for
credential_chain_test.cc: the same environment, files and servers must give
the same credentials to freshfs and to botocore.

Usage: botocore_credentials.py   (everything comes from the environment)

Prints one JSON object: access_key, secret_key, token, method (botocore's
name for the provider), or {"error": ...}. Debian's botocore 1.29 predates
AWS_ENDPOINT_URL_STS: the STS endpoint is given to it in code here.
"""

import json
import os
import sys

try:
    import botocore.session
except ImportError as e:
    sys.exit(f"botocore_credentials.py: cannot import botocore ({e}); install python3-botocore")


def main():
    session = botocore.session.Session()
    sts_endpoint = os.environ.get("AWS_ENDPOINT_URL_STS")
    if sts_endpoint:
        create_client = session.create_client

        def with_sts_endpoint(service_name, *args, **kwargs):
            if service_name == "sts":
                kwargs["endpoint_url"] = sts_endpoint
            return create_client(service_name, *args, **kwargs)

        session.create_client = with_sts_endpoint
    try:
        credentials = session.get_credentials()
        if credentials is None:
            print(json.dumps({"error": "no credentials"}))
            return
        # Temporary credentials are fetched here, not above (deferred).
        frozen = credentials.get_frozen_credentials()
    except Exception as e:  # botocore's errors name the provider; pass them on
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return
    print(json.dumps({"access_key": frozen.access_key, "secret_key": frozen.secret_key,
                      "token": frozen.token or "", "method": credentials.method}))


if __name__ == "__main__":
    main()
