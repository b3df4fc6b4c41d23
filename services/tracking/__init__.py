"""Following parcels to the door: subscriptions with the tracking provider, carrier scans,
stalls and the expected delivery."""
