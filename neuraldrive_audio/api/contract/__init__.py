"""OpenAI's HTTP contract as the routers speak it: request bodies and fields, transcript
response formats, and the response schemas the OpenAPI document declares."""
