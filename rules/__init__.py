"""Pure business logic: lifecycle stages, SLA clocks, routing and message text. No I/O here."""
