"""Raw ICAP probes: the group Squid names in X-Icapfilter-Group, an ICAP
header, decides the client's group; the same header inside the encapsulated
HTTP request (where a browser could put it) does not."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from tests.icapserver import IcapClient, reqmod, running_server
from tests.policyfixtures import make_policy
from tests.unit.policy.conftest import store  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

GROUPS = [GroupConfig(name="pupils", block=["*"]), GroupConfig(name="staff", block=[])]


@pytest.fixture
def port(store):  # noqa: F811
    with running_server(make_policy(GROUPS, store)) as server:
        yield server.server_address[1]


def test_the_icap_header_names_the_group(port):
    with IcapClient(port) as client:
        assert client.transact(reqmod("http://porn.test/")).http_status == 403
        staff = client.transact(reqmod("http://porn.test/", extra="X-Icapfilter-Group: staff\r\n"))
        assert staff.status == 204


def test_the_same_header_in_the_http_request_is_not_trusted(port):
    http = (b"GET http://porn.test/ HTTP/1.1\r\nHost: porn.test\r\n"
            b"X-Icapfilter-Group: staff\r\n\r\n")
    forged = (b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n"
              b"Encapsulated: req-hdr=0, null-body=%d\r\nAllow: 204\r\n\r\n" % len(http))
    with IcapClient(port) as client:
        assert client.transact(forged + http).http_status == 403
