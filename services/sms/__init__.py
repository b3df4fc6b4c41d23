"""Texts to customers: queueing them (quiet hours, limits, opt-outs), sending them through the
provider, and its delivery receipts."""
