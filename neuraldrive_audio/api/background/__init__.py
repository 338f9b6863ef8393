"""The API process's background tasks: the job feeder (an async job's chunks onto the batch
lane), the job janitor (retention, stuck jobs, webhook deliveries) and the webhooks it sends."""
