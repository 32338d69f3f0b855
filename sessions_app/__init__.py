"""Background sessions for Django: Business Central's StartSession, on django-q2."""
