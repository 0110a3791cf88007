"""Sphinx extension: two fixes that keep the browser console of every page free of errors.

- Scripts that extensions add with a body (sphinx-thebe's setup, sphinx-togglebutton's
  selector) end up twice on every page, and the second copy of sphinx-thebe's fails:
  "Identifier 'THEBE_JS_URL' has already been declared". Each page keeps one copy of each.
- The theme's light/dark switch starts from `default_mode`, which Jupyter Book leaves empty
  ("Got invalid theme mode"); "auto" follows the reader's system setting.
"""


def set_default_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    # A script added while the builder runs has the file name None, the same script from the
    # registry has "": Sphinx then sees two different scripts.
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("config-inited", set_default_mode)
    app.connect("html-page-context", drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
