"""Arena: language models play games against each other and against people, get TrueSkill
ratings, and train by self-play. This package is the core; `arena.tui` is its terminal face."""

__version__ = "0.1.0"
