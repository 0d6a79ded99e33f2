"""nlpops."""
