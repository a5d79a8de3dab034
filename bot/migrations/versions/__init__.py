"""Migration scripts: each frozen once released; they import no bot module."""
