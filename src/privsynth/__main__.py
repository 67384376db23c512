"""``python -m privsynth`` runs the CLI."""

from privsynth.cli.main import app

app()
