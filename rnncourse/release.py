"""`make release`: the student version of every assignment, and one zip each for an LMS.

    python -m rnncourse.release [--course DIR] [--db-url URL]

For each <course>/source/<name>/<name>.ipynb, nbgrader's generate_assignment (through its Python
API) writes the student version (no solution, no hidden test, no output) to <course>/release/<name>/
and records the assignment in the gradebook, which grading needs; then release/<name>.zip holds
the folder <name>/ ready to upload.
"""
import argparse
import zipfile
from pathlib import Path

from . import course


def zip_folder(folder, target):
    """A zip of `folder` with paths starting at its name; fixed timestamps, so the same files
    always give the same zip."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder.parent)), date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)


def release(root=course.COURSE, db=None):
    root = Path(root)
    db = course.db_url(root, db)
    nbgrader = course.api(root, db)
    made = []
    for name in course.assignments(root):
        course.check(nbgrader.generate_assignment(name, force=True), f"generate_assignment {name}")
        folder = root / "release" / name
        zip_folder(folder, root / "release" / f"{name}.zip")
        made.append(name)
        print(f"{name}: {folder / f'{name}.ipynb'} and {root / 'release' / f'{name}.zip'}")
    return made


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--course", default=str(course.COURSE), help="the course folder (default: exercises/)")
    parser.add_argument("--db-url", help="gradebook URL (default: $GRADEBOOK_URL or <course>/gradebook.db)")
    args = parser.parse_args(argv)
    release(Path(args.course), db=args.db_url)


if __name__ == "__main__":
    main()
