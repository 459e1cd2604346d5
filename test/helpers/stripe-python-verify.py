"""A receiving app written with Debian's python3-stripe: verifies each request with stripe.Webhook.construct_event.

Reads {"secret": ..., "requests": [{"body": base64, "header": Stripe-Signature}]} on stdin and prints one JSON
list: the event id for each request that verifies, or {"error": class name} for one that does not.
"""
import base64
import json
import sys

import stripe

job = json.load(sys.stdin)
out = []
for request in job["requests"]:
    try:
        event = stripe.Webhook.construct_event(base64.b64decode(request["body"]), request["header"], job["secret"])
        out.append(event["id"])
    except Exception as error:  # the class name is what the test asserts
        out.append({"error": type(error).__name__})
print(json.dumps(out))
