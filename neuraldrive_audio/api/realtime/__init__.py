"""Live sessions over WebSocket: OpenAI's Realtime API, transcription and conversation.

The wire: ``client_events`` (client events parsed into typed models), ``emitter`` (server
events, the ``openai`` SDK's own models, sent in order), ``protocol`` (ids, the client
error, the one mapping of the service's error), ``auth``. The state: ``context`` (one
session's config, buffer, conversation, transcriber, responder), ``session_config``,
``session_render``, ``tools``, ``input_buffer``, ``turn_detection``, ``conversation``
and ``items`` (the typed item union), ``spoken``, ``output_audio``. The handlers, by area:
``session_events``, ``input_audio_events``, ``item_events``, ``response_events``,
registered in one table in ``session``. The work, on the speech service: ``transcriber``
(committed turn -> transcription run -> events, in commit order) and ``responder``
(reply pipeline -> response events). ``registry`` (limits and metrics) and ``router``
(the endpoint) complete it.
"""
