"""orderbot's service shell: config, CLI, HTTP API and wiring."""
