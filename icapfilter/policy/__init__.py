"""The policy: what the server asks (``hook``) and the filter policy that answers.

Importing this package gives the hook only (values and protocols, no engine),
so the server depends on it without loading lists or phrase engines. The
filter policy is composed in :mod:`.filter_policy` from one module per
feature:

- :mod:`.groups`      which filter group a client belongs to
- :mod:`.groupfile`   the user-to-group file (e2guardian's filtergroupslist)
- :mod:`.categories`  a group's category names checked against the lists
- :mod:`.url_verdict` what the URL lists say for a group (exceptions beat bans)
- :mod:`.failure`     what a request gets when it cannot be judged (on_error)
- :mod:`.ratelimit`   the per-client request limit (429)
- :mod:`.learned`     learned page verdicts and the request mark for Squid
- :mod:`.scanning`    which responses are scanned, and the scan's verdict
- :mod:`.schedule`    what a group blocks at a moment (``[[groups.schedule]]``)
- :mod:`.filetypes`   banned MIME types and extensions (file names read by
  :mod:`.filenames`, e2guardian's lists by :mod:`.filetype_lists`, a body's
  type sniffed by :mod:`.filetype_scan`)
- :mod:`.safesearch`  search requests rewritten, the YouTube-Restrict header
"""

from .hook import (
    AllowAll,
    Client,
    Policy,
    PolicyHolder,
    RequestInfo,
    ResponseInfo,
    ResponseScan,
)

__all__ = [
    "AllowAll",
    "Client",
    "Policy",
    "PolicyHolder",
    "RequestInfo",
    "ResponseInfo",
    "ResponseScan",
]
