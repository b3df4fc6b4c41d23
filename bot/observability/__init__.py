"""What the service tells about itself: liveness, readiness and Prometheus metrics."""
