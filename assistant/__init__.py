"""The Rafiq service: HTTP/WebSocket API, live call sessions, suggestions and call records."""
