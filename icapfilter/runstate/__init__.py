"""A running server's pid file and status files, and what they tell the commands."""
