"""The face: one module per subcommand, each light to import so `--help` is instant."""
