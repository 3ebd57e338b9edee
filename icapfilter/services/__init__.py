"""Service files for Linux (a systemd unit, a logrotate file), filled in by
``icapfilter install-service``."""
