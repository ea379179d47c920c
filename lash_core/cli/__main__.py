"""``python -m lash_core.cli``: the ``lash`` command."""

from lash_core.cli import main

main()
