"""The myonion desktop app (PySide6). Imports only the core public API."""
