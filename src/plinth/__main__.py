"""``python -m plinth`` runs the CLI."""

from plinth.experience.cli.main import app

app()
