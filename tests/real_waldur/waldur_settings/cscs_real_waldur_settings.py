"""Django settings of the Waldur MasterMind the real-Waldur tests build (DJANGO_SETTINGS_MODULE).

The tarball ships no ``waldur_core/server/settings.py``; Waldur's entry points only
``setdefault`` the settings module, so this one is named by the environment instead of being
written into the cached source tree. Everything a run varies (the PostgreSQL port, the media
folder) comes from the environment, so one migrated database dump serves every run.
"""

import os

from waldur_core.server.base_settings import *  # noqa: F403

# A fixed key: the server lives on loopback for one test session and holds only test data.
SECRET_KEY = "cscs-dwdi-real-waldur-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("CSCS_WALDUR_DB_NAME", "waldur"),
        "USER": os.environ.get("CSCS_WALDUR_DB_USER", "postgres"),
        "HOST": "127.0.0.1",
        "PORT": os.environ.get("CSCS_WALDUR_DB_PORT", "5432"),
    }
}

# No Redis: a per-process cache, and Celery tasks that nobody runs (resources are made in the DB).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

_STATE = os.environ.get("CSCS_WALDUR_STATE_DIR", "/tmp/cscs-dwdi-real-waldur")
MEDIA_ROOT = os.path.join(_STATE, "media")
STATIC_ROOT = os.path.join(_STATE, "static")
