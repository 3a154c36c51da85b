"""myonion: templates → Docker containers, each with its own tor, published as onion services."""

__version__ = "0.1.0"
