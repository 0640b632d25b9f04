"""The Gradio chat page mounted at / by `assistant.api.app.create_app`."""
