"""Self-play fine-tuning (SPIRAL-style RL). Runs as its own process: `python -m trainer`."""
