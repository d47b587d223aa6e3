"""Courses: catalog, curriculum, enrollments, progress and certificates."""
