"""Timer jobs: plain coroutines over storage and rules; APScheduler only triggers them."""
