"""``python -m bot`` is the ``orderbot`` command."""

from bot.cli import main

main()
