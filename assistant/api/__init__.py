"""HTTP API (FastAPI): one router per resource, request/response models named for their role."""
