"""The lifecycle of orders and their tickets: the one writer of stage entries (an order's
first stage included, as an event), of tickets (open, route, escalate, remind, claim, assign,
move, snooze, resolve), of their timelines and of the notices that announce them.

Ingest, the watch and the chat commands call it with their own session (they own the unit of
work) and the Policy of that unit of work; none of them writes tickets or stage fields.
"""
