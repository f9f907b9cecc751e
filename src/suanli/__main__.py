"""``python -m suanli`` runs the command-line interface."""

from suanli.cli import main

main()
