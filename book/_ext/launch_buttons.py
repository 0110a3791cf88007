"""Sphinx extension: launch buttons (Binder, JupyterHub) only once the book knows its repository.

Launch links point into a public repository, so they are meaningless until `repository: url:` in
_config.yml names one. Until then this extension removes the launch providers; otherwise the
theme would fail on the empty URL (or, with no `repository:` block at all, link to Jupyter
Book's own repository, its default).
"""
PROVIDERS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url")


def launch_only_with_repository(app, config):
    options = config.html_theme_options
    if not options.get("repository_url", "").strip():
        launch = options.get("launch_buttons", {})
        options["launch_buttons"] = {k: v for k, v in launch.items() if k not in PROVIDERS}


def setup(app):
    app.connect("config-inited", launch_only_with_repository)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
