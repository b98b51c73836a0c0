"""`python -m oversight.run COMMAND`: the command-line entry point."""

from oversight.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
