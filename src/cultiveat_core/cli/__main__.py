"""``python -m cultiveat_core.cli``: the ``cultiveat`` command without its console script."""

from cultiveat_core.cli.main import main

main()
