"""Reconciliation of orders against the payment gateways' statements (issue 14)."""
