"""The API process's background tasks: the job janitor (retention, stuck jobs, webhook
deliveries) and the webhooks it sends."""
