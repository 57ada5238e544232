"""Where the verification report of a storage root is (`verification_report`'s report.html, which
the main job and `seeds-dag score` write), or, with --open, open it in the web browser."""

from __future__ import annotations

import argparse
import os
import webbrowser
from pathlib import Path

from assets.object_names import REPORT, REPORT_PAGE
from resources import StorageResource
from resources.storage import DEFAULT_ROOT, ROOT_ENV_VAR
from seeds_dag.store import ArtifactNotFoundError

HELP = "print where the report of a storage root is, or open it (--open)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-root", default=os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT),
                        help=f"the storage root (default ${ROOT_ENV_VAR}, else %(default)s)")
    parser.add_argument("--open", action="store_true", help="open the report in the web browser")


def command(args: argparse.Namespace) -> int:
    store = StorageResource(root=args.storage_root).store()
    if not store.exists_bytes(REPORT, REPORT_PAGE):
        raise ArtifactNotFoundError(f"no {REPORT}/{REPORT_PAGE} under {store.root}: materialise it "
                                    "(seeds-dag run, or seeds-dag score --out ROOT)")
    page = f"{store.location(REPORT)}/{REPORT_PAGE}"
    print(page)
    if args.open:
        if page.startswith("s3://"):
            raise ValueError(f"{page} is on S3: copy it here to open it")
        webbrowser.open(Path(page).as_uri())
    return 0
