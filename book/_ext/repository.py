"""The repository's address, from one setting: ``repository: url:`` of ``_config.yml``.

Jupyter Book passes that setting to the theme as ``html_theme_options["repository_url"]``. This
extension derives everything else from it:

* the theme's repository button is on exactly when the address is set (``use_repository_button``) and the
  theme can draw it: sphinx-book-theme knows GitHub, GitLab and Bitbucket addresses (or a
  ``repository_provider`` given beside the address); for another host the address is still shown on the
  page, without the button (the theme would stop the build on it);
* the directive ``{repository-clone}`` (used by ``book/run_it.md``) renders ``git clone <url>`` when it
  is set, and otherwise a plain instruction to ask for the address: the project has no published
  address yet, and the book never invents one.
"""
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

NO_ADDRESS = ("This build of the book names no public repository address (the setting ", ("repository: url:",),
              " of ", ("_config.yml",), " is empty). Ask your teacher or the maintainers for the repository "
              "address, or for a copy of the code, then continue from the folder that holds ", ("README.md",), ".")
"""The instruction shown without an address: text, and one-element tuples for code."""


PROVIDERS = ("github", "gitlab", "bitbucket")
"""The hosts sphinx-book-theme infers from an address (``sphinx_book_theme.header_buttons``)."""


def repository_url(options: dict) -> str:
    """The address set in ``_config.yml`` (stripped), or ``""``."""
    return str((options or {}).get("repository_url") or "").strip()


def theme_can_draw(url: str, options: dict) -> bool:
    """Whether sphinx-book-theme can make a button for ``url`` (a provider it knows, given or in the host)."""
    if options.get("repository_provider"):
        return True
    parts = url.strip("/").rsplit("/", 2)
    return len(parts) == 3 and any(name in parts[0].lower() for name in PROVIDERS)


def _button_follows_url(app, config):
    options = dict(config.html_theme_options or {})
    url = repository_url(options)
    # an "env" value: a changed address makes Sphinx read the pages again (the theme options alone only
    # rewrite the HTML, and {repository-clone} would keep the old text)
    config.repository_address = url
    options["use_repository_button"] = bool(url) and theme_can_draw(url, options)
    if not options["use_repository_button"]:
        options.pop("repository_url", None)
    config.html_theme_options = options


class RepositoryClone(SphinxDirective):
    """``git clone <url>`` and ``cd`` into it, or the instruction to ask for the address."""

    has_content = False

    def run(self):
        url = self.config.repository_address
        if not url:
            paragraph = nodes.paragraph()
            paragraph += nodes.strong(text="Where the code is. ")
            for part in NO_ADDRESS:
                paragraph += nodes.literal(text=part[0]) if isinstance(part, tuple) else nodes.Text(part)
            return [nodes.container("", paragraph, classes=["repository-address", "repository-missing"])]
        folder = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "cxr-ssl"
        code = f"git clone {url}\ncd {folder}"
        block = nodes.literal_block(code, code, language="bash")
        intro = nodes.paragraph()
        intro += nodes.Text("The code lives at ")
        intro += nodes.reference(url, url, refuri=url)
        intro += nodes.Text(" (the repository button at the top of every page links it too):")
        return [nodes.container("", intro, block, classes=["repository-address"])]


def setup(app):
    app.add_config_value("repository_address", "", "env")
    app.connect("config-inited", _button_follows_url)
    app.add_directive("repository-clone", RepositoryClone)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
