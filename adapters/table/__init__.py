"""Tables in other databases that orderbot polls for orders (``kind = "table"`` sources)."""
