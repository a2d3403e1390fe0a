"""Build-time page: the configuration reference, written by mkdocs-gen-files on every build
(and every ``mkdocs serve`` rebuild) from ``conf/`` (see :mod:`config_reference`); the page
exists only in the build, never in docs/."""

import sys
from pathlib import Path

import mkdocs_gen_files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from config_reference import render  # noqa: E402  (docs/ is not a package)

# conf/ beside mkdocs.yml, whatever the working directory (mkdocs build -f path/to/mkdocs.yml)
CONF = Path(mkdocs_gen_files.config.config_file_path).parent / "conf"
PAGE = "reference/configuration.md"

with mkdocs_gen_files.open(PAGE, "w") as page:
    page.write(render(CONF))
mkdocs_gen_files.set_edit_path(PAGE, "gen_config_reference.py")  # "edit this page": the script
