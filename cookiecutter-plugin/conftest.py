"""pytest: the template's project tree holds Jinja, not Python, until it is rendered; only the
self-test in ``tests/`` is collected, even when pytest is pointed at this directory."""

collect_ignore_glob = ["{{*"]
