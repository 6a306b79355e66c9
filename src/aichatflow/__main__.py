"""``python -m aichatflow`` is the ``aichatflow`` command."""

from .cli import main

main()
