"""Files: uploads, storage backends, video processing, signed playback."""
