"""``python -m nlpops`` runs the CLI."""

from nlpops.cli import main

if __name__ == "__main__":
    main()
