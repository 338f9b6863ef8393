"""HTTP plumbing of the API: the server, API-key auth, injected dependencies, OpenAI's
error envelope (and the speech service's errors mapped to it), the upload limit, the
client-disconnect watcher and server-sent events."""
