"""What the API reports about the service: the status document (``/system/audio/status``)
and the Prometheus metrics (``/metrics``)."""
