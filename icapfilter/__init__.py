"""icapfilter: an ICAP/1.0 content filter for Squid."""

__version__ = "0.1.0"
