"""Suite-wide: this folder is on sys.path (pytest's rootdir conftest), so tests import ``_shared`` and
``_optional`` from any sub-folder."""
