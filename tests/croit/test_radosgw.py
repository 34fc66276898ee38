"""RadosGW's Admin Ops: the agent's SigV4 signer and the stand-in's verifier pinned to AWS's own
published examples, the stand-in's answers, and the client's reading of them."""

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests

from waldur_site_agent_actors.backends.croit_s3 import sigv4
from waldur_site_agent_actors.backends.croit_s3.errors import AdminError, Conflict, NotFound
from waldur_site_agent_actors.backends.croit_s3.radosgw import RadosGWClient
from waldur_site_agent_actors.simulators.radosgw import RadosGWSimulator
from waldur_site_agent_actors.simulators.radosgw.auth import Refused, authenticate

# AWS's examples ("Signature Calculations for the Authorization Header", "Signing and
# Authenticating REST Requests"): the keys AWS documents, and the signatures it gives.
AWS_KEY, AWS_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()


def aws_secret(access):
    return AWS_SECRET if access == AWS_KEY else None


def test_the_signer_gives_aws_s_example_signature():
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_HASH,
        "x-amz-date": "20130524T000000Z",
    }
    text = sigv4.string_to_sign(
        "GET",
        "/test.txt",
        "",
        headers,
        EMPTY_HASH,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
    )
    key = sigv4.signing_key(AWS_SECRET, "20130524", "us-east-1")
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    assert signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


def test_the_stand_in_accepts_aws_s_examples_and_refuses_what_radosgw_refuses():
    v4 = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_HASH,
        "x-amz-date": "20130524T000000Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
        "s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    }
    then = datetime(2013, 5, 24, tzinfo=UTC).timestamp()
    assert authenticate("GET", "/test.txt", "", v4, b"", aws_secret, then) == AWS_KEY
    v2 = {
        "date": "Tue, 27 Mar 2007 19:36:42 +0000",
        "authorization": "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    }
    moment = datetime(2007, 3, 27, 19, 36, 42, tzinfo=UTC).timestamp()
    path = "/johnsmith/photos/puppy.jpg"
    assert authenticate("GET", path, "", v2, b"", aws_secret, moment) == AWS_KEY

    def refused(headers, body=b"", now=then, secret_of=aws_secret):
        with pytest.raises(Refused) as caught:
            authenticate("GET", "/test.txt", "", headers, body, secret_of, now)
        return caught.value.code

    assert refused(v4, now=then + 3600) == "RequestTimeTooSkewed"
    assert refused({**v4, "range": "bytes=0-10"}) == "SignatureDoesNotMatch"
    assert refused({k: v for k, v in v4.items() if k != "x-amz-content-sha256"}) == (
        "SignatureDoesNotMatch"
    )
    assert refused(v4, body=b"x") == "XAmzContentSHA256Mismatch"
    assert refused(v4, secret_of=lambda key: None) == "InvalidAccessKeyId"
    assert refused({k: v for k, v in v4.items() if k != "authorization"}) == "AccessDenied"


def admin(radosgw, method, params, key=None, secret=None, body=b""):
    """One signed request to the stand-in, as any S3 client would send it."""
    url = f"{radosgw.endpoint}/admin/user?{sigv4.query_string({**params, 'format': 'json'})}"
    headers = sigv4.sign(
        method,
        url,
        body,
        key or radosgw.admin_access_key,
        secret or radosgw.admin_secret_key,
        "default",
    )
    return requests.request(method, url, headers=headers, data=body, timeout=5)


def test_admin_ops_answer_in_radosgw_s_shapes_and_codes(radosgw):
    created = admin(radosgw, "PUT", {"uid": "u1", "display-name": "One", "email": "a@x.org"})
    assert created.status_code == 200
    body = created.json()
    assert (body["user_id"], body["display_name"], body["suspended"]) == ("u1", "One", 0)
    assert len(body["keys"]) == 1, "a key unless generate-key=False"
    assert body["user_quota"] == {
        "enabled": False,
        "check_on_raw": False,
        "max_size": -1,
        "max_size_kb": 0,
        "max_objects": -1,
    }
    again = admin(radosgw, "PUT", {"uid": "u1", "display-name": "One"})
    assert (again.status_code, again.json()["Code"]) == (409, "UserAlreadyExists")
    assert set(again.json()) == {"Code", "RequestId", "HostId"}
    same_email = admin(radosgw, "PUT", {"uid": "u2", "display-name": "Two", "email": "a@x.org"})
    assert same_email.json()["Code"] == "EmailExists"
    nameless = admin(radosgw, "PUT", {"uid": "u3"})
    assert (nameless.status_code, nameless.json()["Code"]) == (400, "InvalidArgument")
    listed = admin(radosgw, "GET", {"list": None}).json()
    assert listed == {"keys": ["admin", "u1"], "truncated": False, "count": 2}

    quota = {"quota": None, "uid": "u1", "quota-type": "user"}
    assert admin(radosgw, "PUT", {**quota, "enabled": "True", "max-size": 1000}).status_code == 200
    read = admin(radosgw, "GET", quota).json()
    assert (read["max_size"], read["max_size_kb"], read["max_objects"]) == (1000, 1, -1)
    as_json = admin(radosgw, "PUT", quota, body=b'{"enabled": true}')
    assert (as_json.status_code, as_json.json()["Code"]) == (501, "NotImplemented")

    gone = admin(radosgw, "DELETE", {"key": None, "uid": "u1", "access-key": "NOSUCHKEY0000000"})
    assert (gone.status_code, gone.json()["Code"]) == (403, "InvalidAccessKeyId")
    radosgw.state.put_object("u1", "data", "x", 500)
    owning = admin(radosgw, "DELETE", {"uid": "u1"})
    assert (owning.status_code, owning.json()["Code"]) == (409, "BucketAlreadyExists")
    assert admin(radosgw, "DELETE", {"uid": "u1", "purge-data": "True"}).status_code == 200
    missing = admin(radosgw, "GET", {"uid": "u1"})
    assert (missing.status_code, missing.json()["Code"]) == (404, "NoSuchUser")


def test_admin_ops_need_the_caller_s_caps(radosgw):
    radosgw.add_user("viewer", "VIEWERKEY00000000001", "viewer-secret", {"users": "read"})
    radosgw.add_user("nobody", "NOBODYKEY00000000001", "nobody-secret")
    assert admin(radosgw, "GET", {"list": None}, "VIEWERKEY00000000001", "viewer-secret").ok
    write = admin(
        radosgw, "PUT", {"uid": "x", "display-name": "X"}, "VIEWERKEY00000000001", "viewer-secret"
    )
    assert (write.status_code, write.json()["Code"]) == (403, "AccessDenied")
    read = admin(radosgw, "GET", {"list": None}, "NOBODYKEY00000000001", "nobody-secret")
    assert read.json()["Code"] == "AccessDenied"


def test_a_v2_signed_request_is_accepted_too(radosgw):
    date = format_datetime(datetime.now(UTC), usegmt=True)
    text = f"GET\n\n\n{date}\n/admin/user"
    digest = hmac.new(radosgw.admin_secret_key.encode(), text.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    answer = requests.get(
        f"{radosgw.endpoint}/admin/user?list&format=json",
        headers={"Date": date, "Authorization": f"AWS {radosgw.admin_access_key}:{signature}"},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["keys"] == ["admin"]


def client(radosgw, secret=None):
    return RadosGWClient(
        radosgw.endpoint,
        radosgw.admin_access_key,
        secret or radosgw.admin_secret_key,
        timeout=5,
        retries=0,
    )


def test_the_client_reads_radosgw_s_answers_as_the_backend_expects(radosgw):
    rgw = client(radosgw)
    rgw.create_user({"uid": "u1", "name": "One", "email": "one@x.org"})
    assert rgw.keys("u1") == [], "created with generate-key=False"
    rgw.add_key("u1", "AKIAEXAMPLE000000001", "first-secret-value")
    rgw.add_key("u1", "AKIAEXAMPLE000000001", "second-secret-value")  # same key: a new secret
    assert rgw.keys("u1") == [
        {"user": "u1", "access_key": "AKIAEXAMPLE000000001", "secret_key": "second-secret-value"}
    ]
    rgw.set_quota("u1", "bucket", {"enabled": True, "maxSize": 1234567, "maxObjects": 9})
    assert rgw.user("u1")["bucketQuota"] == {"enabled": True, "maxSize": 1234567, "maxObjects": 9}
    radosgw.state.put_object("u1", "b", "o", 1)
    assert [(b.name, b.size, b.objects) for b in rgw.buckets("u1")] == [("b", 4096, 1)]
    with pytest.raises(Conflict):
        rgw.create_user({"uid": "u1", "name": "One"})
    with pytest.raises(NotFound):
        rgw.delete_key("u1", "AKIAEXAMPLE000000009")
    assert rgw.user("ghost") is None
    assert rgw.uids() == ["admin", "u1"]


def test_a_wrong_secret_or_a_far_clock_names_the_key_and_never_the_secret(radosgw):
    with pytest.raises(AdminError) as caught:
        client(radosgw, "not-the-secret").uids()
    assert "the admin key RGWADMINTESTKEY00001" in str(caught.value)
    assert "SignatureDoesNotMatch" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    radosgw.state.clock = lambda: time.time() + 3600
    with pytest.raises(AdminError, match="RequestTimeTooSkewed"):
        client(radosgw).uids()


def test_admin_path_names_where_admin_ops_live():
    with RadosGWSimulator(admin_path="rgw-admin") as renamed:
        moved = RadosGWClient(
            renamed.endpoint,
            renamed.admin_access_key,
            renamed.admin_secret_key,
            admin_path="rgw-admin",
            timeout=5,
            retries=0,
        )
        assert moved.uids() == ["admin"]
        with pytest.raises(AdminError, match=r"no Admin Ops API at .*/admin: check admin_path"):
            client(renamed).uids()  # `admin`, the default, is not where this gateway has it
