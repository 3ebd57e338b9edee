"""The policy as the ICAP exchange sees it (:class:`icapfilter.icap.exchange.Judge`).

The exchange knows ICAP values only; this turns them into the policy's
:class:`RequestInfo` and :class:`ResponseInfo`, once per message, and renders
the block page with who asked and for what.
"""

from __future__ import annotations

from ..blockpage import BlockPage
from ..icap.messages import IcapRequest
from ..icap.service import client_identity, istag_for
from ..policy import Client, Policy, PolicyHolder, RequestInfo, ResponseInfo, ResponseScan
from ..verdict import Verdict


class PolicyJudge:
    """Judges one message with the policy current when its heads were read
    (a reload while the connection waited for them applies to it)."""

    __slots__ = ("holder", "blockpage", "info", "_policy", "_istag")

    def __init__(self, holder: PolicyHolder, blockpage: BlockPage) -> None:
        self.holder = holder
        self.blockpage = blockpage
        self.info: RequestInfo | None = None
        self._policy: Policy | None = None
        self._istag: str | None = None

    @property
    def policy(self) -> Policy:
        """Read once, at first use, so a message never changes rules midway."""
        if self._policy is None:
            self._policy = self.holder.current
        return self._policy

    @property
    def istag(self) -> str:
        """Computed once, when first needed: the generation may cost a store read."""
        if self._istag is None:
            self._istag = istag_for(self.policy.generation)
        return self._istag

    def request_info(self, request: IcapRequest) -> RequestInfo:
        if self.info is None:
            ip, user = client_identity(request)
            http = request.http_request
            self.info = RequestInfo(
                # X-Icapfilter-Group: Squid's adaptation_meta, like the SNI below
                client=Client(ip=ip, user=user, group=request.headers.get("X-Icapfilter-Group")),
                method=http.method if http else "-",
                url=http.url if http else "-",
                headers=http.headers if http else request.headers,
                # Squid's `adaptation_meta X-Icapfilter-SNI "%ssl::>sni"`: an ICAP
                # header, so a client cannot set it; it can only add a name to judge.
                sni=request.headers.get("X-Icapfilter-SNI"),
            )
        return self.info

    def decide_request(self, request: IcapRequest) -> Verdict:
        return self.policy.decide_request(self.request_info(request))

    def begin_response(self, request: IcapRequest) -> Verdict | ResponseScan:
        response = request.http_response
        assert response is not None  # the parser requires res-hdr for RESPMOD
        return self.policy.begin_response(self.request_info(request),
                                          ResponseInfo(response.status, response.headers))

    def block_page(self, request: IcapRequest, verdict: Verdict) -> bytes:
        info = self.request_info(request)
        return self.blockpage.render(verdict, info.url, info.client.ip, info.client.user,
                                     info.headers.get("Accept-Language"))
