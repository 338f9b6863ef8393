"""Live sessions over WebSocket: OpenAI's Realtime API (transcription sessions so far).

The pieces are separate so a conversation session (voice agent) can reuse them:
``protocol`` (event ids, error events, client-event parsing), ``emitter`` (ordered sends),
``session_config`` (GA and legacy beta session shapes), ``input_buffer`` and
``turn_detection`` (audio in, VAD decisions), ``conversation`` (the item list),
``transcriber`` (committed turn -> queue job -> transcription events), ``registry``
(limits and metrics), ``session`` (dispatch), ``router`` (the endpoint and its auth).
"""
