"""Services: what handlers and jobs call (ingest, the lifecycle, notices, reports, rules)."""
