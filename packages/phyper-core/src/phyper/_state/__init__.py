"""The state folder: its file formats, locks, the store that owns every path, and the completion records."""
