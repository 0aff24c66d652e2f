"""Start-up hook imported by plughost_lmcache.pth: install() when PLUGHOST_LMCACHE asks for it."""

# Runs at every interpreter start-up in the environment: nothing heavy is imported unless asked,
# and nothing may raise (site.py would print a traceback at every start).
try:
    import os as _os

    if _os.environ.get("PLUGHOST_LMCACHE", "").strip().lower() in ("1", "true", "yes", "on"):
        from plughost_lmcache._install import install as _install

        _install()
except Exception as _error:
    try:
        import sys as _sys

        _sys.stderr.write(f"plughost_lmcache: PLUGHOST_LMCACHE is set but install() failed: "
                          f"{_error}\n")
    except Exception:
        pass
